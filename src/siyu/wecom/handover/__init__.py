"""Staff handover (在职转接 / 离职继承): planning what moves to whom, asking WeCom to transfer it,
and taking its answers."""
