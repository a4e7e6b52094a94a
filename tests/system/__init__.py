"""System tests: several ``xid serve`` processes, a load balancer in front of them, and faults injected underneath."""
