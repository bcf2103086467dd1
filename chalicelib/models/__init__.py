"""DynamoDB tables (PynamoDB). `ALL_MODELS` is the single list that the local stack provisions
and `infra/` turns into CloudFormation."""
from chalicelib.models.records import Record
from chalicelib.models.counters import Counter
from chalicelib.models.tokens import AuthToken

ALL_MODELS = (Record, Counter, AuthToken)

__all__ = ["Record", "Counter", "AuthToken", "ALL_MODELS"]
