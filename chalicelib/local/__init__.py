"""The local stack: everything of OpsGrat Serverless on one machine (moto + Chalice local)."""
