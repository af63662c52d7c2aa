"""Persistence: SQLAlchemy async models, engine and sessions, repositories, Alembic migrations."""

from api.db.models import Base, ChatSession, Feedback, Message
from api.db.repositories import (
    InvalidFeedbackError,
    MessageNotFoundError,
    NewMessage,
    NotAnAnswerError,
    delete_session,
    get_message,
    list_feedback,
    list_messages,
    recent_turns,
    record_exchange,
    session_exists,
    upsert_feedback,
)
from api.db.session import (
    StorageUnavailableError,
    build_engine,
    build_session_factory,
    check_database,
)

__all__ = [
    "Base",
    "ChatSession",
    "Feedback",
    "InvalidFeedbackError",
    "Message",
    "MessageNotFoundError",
    "NewMessage",
    "NotAnAnswerError",
    "StorageUnavailableError",
    "build_engine",
    "build_session_factory",
    "check_database",
    "delete_session",
    "get_message",
    "list_feedback",
    "list_messages",
    "recent_turns",
    "record_exchange",
    "session_exists",
    "upsert_feedback",
]
