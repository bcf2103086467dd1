"""The runner container: what runs ansible for one job (imported by tests as ``runner_image``)."""
