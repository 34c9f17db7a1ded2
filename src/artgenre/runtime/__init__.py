"""How a process runs, whatever it computes: its device and seeds (device), the process group
and exact collectives (distributed), numeric precision (precision), torch.compile with an eager
fallback (compilation), stopping on Slurm's signals (preemption) and the CPU allocator
(cpu_memory). Nothing here knows about paintings, models or run folders."""
