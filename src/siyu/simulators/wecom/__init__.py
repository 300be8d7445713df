"""A local WeCom: the API endpoints Siyu calls, with real errcodes and limits, and a driver
that makes simulated customers act and sends Siyu encrypted callbacks."""
