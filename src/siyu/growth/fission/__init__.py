"""Fission campaigns (任务宝 / 群裂变) within WeChat's rules: stages count invitees' paid orders."""
