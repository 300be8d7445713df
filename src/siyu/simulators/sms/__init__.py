"""A local SMS gateway with Aliyun's request shape, for tests and the demo."""
