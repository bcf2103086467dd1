"""OpsGrat Serverless: shared code of the API Lambda, the event handlers and the runner."""
