"""The kubelet: runs pods as real HTTP workloads (the demo app, or subprocesses) on loopback addresses."""
