"""Worker bodies: each takes a job from queued to its end (downloads, loads, answers, batches,
comparisons, tool rounds)."""
