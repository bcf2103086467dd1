"""DynamoDB tables (PynamoDB). `ALL_MODELS` is the single list that the local stack provisions
and `infra/` turns into CloudFormation."""
from chalicelib.models.counters import Counter
from chalicelib.models.login_failures import LoginFailures
from chalicelib.models.records import Record
from chalicelib.models.tokens import AuthToken

ALL_MODELS = (Record, Counter, AuthToken, LoginFailures)

__all__ = ["Record", "Counter", "AuthToken", "LoginFailures", "ALL_MODELS"]
