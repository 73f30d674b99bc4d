"""The database schema, as SQLAlchemy Core tables.

``alerts``, ``incidents`` and ``alert_relationships`` follow the design document's schema; the
other tables record what ran (runs, steps, tool calls, approvals, deliveries). Alembic
migrations under ``migrations/`` create them; this module is what the code queries.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """Aware UTC now; every timestamp we store is UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps that come back timezone-aware from every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def _timestamp(name: str, *, nullable: bool = True, default: bool = False) -> Column[datetime]:
    return Column(
        name,
        UtcDateTime(),
        nullable=nullable,
        default=utcnow if default else None,
    )


sources = Table(
    "sources",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("type", String(50), nullable=False),
    Column("spec", Json, nullable=False),
    Column("events_processed", Integer, nullable=False, server_default=text("0")),
    _timestamp("last_event_at"),
    _timestamp("created_at", default=True),
    _timestamp("updated_at", default=True),
)

workflows = Table(
    "workflows",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("spec", Json, nullable=False),
    _timestamp("created_at", default=True),
    _timestamp("updated_at", default=True),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("title", String(255), nullable=False),
    Column("description", Text),
    Column("status", String(50), nullable=False),
    Column("severity", String(20), nullable=False),
    Column("incident_commander", String(255)),
    Column("alerts_count", Integer, server_default=text("0")),
    Column("mttr_seconds", Integer),
    Column("ai_summary", Json),
    Column("root_cause_analysis", Text),
    Column("lessons_learned", Text),
    _timestamp("created_at", default=True),
    _timestamp("resolved_at"),
    _timestamp("updated_at", default=True),
    # Correlation and storm control (migration 0008): ``created_at`` is when it opened.
    Column("workload", String(255)),
    _timestamp("last_alert_at"),
    # The run whose agent step investigates it; later alerts' runs attach to that one. No
    # foreign key: retention may delete the run, the incident keeps its summary.
    Column("investigation_run_id", Uuid),
)
Index("ix_incidents_status", incidents.c.status)
Index("ix_incidents_created_at", incidents.c.created_at)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("external_id", String(255), unique=True),
    Column("fingerprint", String(255), index=True),
    Column("status", String(50), nullable=False, index=True),
    Column("severity", String(20), nullable=False, index=True),
    Column("alert_name", String(255), nullable=False),
    Column("summary", Text),
    Column("description", Text),
    Column("labels", Json),
    Column("annotations", Json),
    Column("source_id", Uuid, ForeignKey("sources.id")),
    Column("workflow_id", Uuid, ForeignKey("workflows.id")),
    # AI analysis
    Column("ai_analysis", Json),
    Column("ai_confidence", Float),
    Column("auto_resolved", Boolean, server_default=text("false")),
    # Timing
    Column("received_at", UtcDateTime(), nullable=False, index=True),
    _timestamp("triage_started_at"),
    _timestamp("triage_completed_at"),
    _timestamp("resolved_at"),
    _timestamp("escalated_at"),
    # Human interaction
    Column("escalated_to", String(255)),
    Column("human_actions", Json),
    Column("resolution_notes", Text),
    # Relationships
    Column("incident_id", Uuid, ForeignKey("incidents.id"), index=True),
    Column("parent_alert_id", Uuid, ForeignKey("alerts.id")),
    _timestamp("created_at", default=True),
    _timestamp("updated_at", default=True),
    # Lifecycle bookkeeping beyond the design's columns.
    Column("source_name", String(255), nullable=False),
    Column("starts_at", UtcDateTime()),
    Column("ends_at", UtcDateTime()),
    Column("generator_url", Text),
    Column("last_seen_at", UtcDateTime(), nullable=False),
    Column("occurrences", Integer, nullable=False, server_default=text("1")),
    Column("active", Boolean, nullable=False, server_default=text("true")),
)
# One open lifecycle per fingerprint and source: Alertmanager's repeats update it, never add to it.
Index(
    "uq_alerts_active_fingerprint",
    alerts.c.source_name,
    alerts.c.fingerprint,
    unique=True,
    sqlite_where=text("active"),
    postgresql_where=text("active"),
)

alert_relationships = Table(
    "alert_relationships",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("parent_alert_id", Uuid, ForeignKey("alerts.id")),
    Column("child_alert_id", Uuid, ForeignKey("alerts.id")),
    Column("relationship_type", String(50)),
    Column("confidence", Float),
    _timestamp("created_at", default=True),
    # Migration 0008: the incident the child joined, and the rule that joined it.
    # No index of its own: a storm writes one row per join, and every index is another write
    # per row; an incident's rows are found through its alerts (``child_alert_id``).
    Column("incident_id", Uuid, ForeignKey("incidents.id", ondelete="CASCADE")),
    Column("reason", String(255)),
)

# What correlates alerts into an incident (migration 0008): one row per correlation key
# (``group:``, ``workload:``, ``labels:``; a refire is found in ``alerts``), pointing at the
# incident that holds it now. The primary key is what keeps two concurrent batches from opening two
# incidents for one key; an expired key is re-pointed at the next incident.
incident_keys = Table(
    "incident_keys",
    metadata,
    Column("key", String(512), primary_key=True),
    Column(
        "incident_id",
        Uuid,
        ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("alert_id", Uuid, nullable=False),
    _timestamp("updated_at", default=True),
)

# An Alertmanager notification's group fields (receiver, groupKey, groupLabels, ...), stored
# once per notification that started a run: its runs refer to it instead of each holding a copy
# of the whole notification, which made 10,000 alerts cost 10,000 copies (migration 0005).
notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("source_name", String(255), nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("data", Json, nullable=False),
    _timestamp("received_at", default=True),
)

workflow_runs = Table(
    "workflow_runs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("workflow_name", String(255), nullable=False, index=True),
    Column("workflow_id", Uuid, ForeignKey("workflows.id")),
    Column("source_name", String(255)),
    Column("alert_id", Uuid, ForeignKey("alerts.id"), index=True),
    Column("parent_run_id", Uuid, ForeignKey("workflow_runs.id")),
    Column("status", String(30), nullable=False, index=True),
    # ``source_context`` without the notification; its group fields are rejoined on reading.
    Column(
        "notification_id",
        Uuid,
        ForeignKey("notifications.id", ondelete="SET NULL"),
        index=True,
    ),
    Column("source_context", Json, nullable=False),
    Column("outputs", Json),
    Column("error", Text),
    Column("attempt", Integer, nullable=False, server_default=text("0")),
    Column("lease_owner", String(255)),
    _timestamp("lease_expires_at"),
    _timestamp("created_at", default=True),
    _timestamp("started_at"),
    _timestamp("completed_at"),
    _timestamp("updated_at", default=True),
)

step_results = Table(
    "step_results",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("run_id", Uuid, ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", String(255), nullable=False),
    Column("type", String(30), nullable=False),
    Column("status", String(30), nullable=False),
    Column("result", Json),
    Column("error", Text),
    _timestamp("started_at"),
    _timestamp("completed_at"),
    # How often the step was started and why (migration 0006): a retry after a temporary
    # failure, a re-run after the server stopped while it ran.
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    Column("attempt_log", Json),
    UniqueConstraint("run_id", "name", name="uq_step_results_run_id_name"),
)

sink_deliveries = Table(
    "sink_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("run_id", Uuid, ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False),
    Column("sink_name", String(255), nullable=False),
    Column("sink_type", String(50), nullable=False),
    Column("status", String(30), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("response", Json),
    Column("error", Text),
    Column("idempotency_key", String(255)),
    Column("external_ref", String(255)),
    _timestamp("created_at", default=True),
    _timestamp("started_at"),
    _timestamp("completed_at"),
    _timestamp("next_attempt_at"),
    # Delivery bookkeeping (migration 0003): who is sending it, what each attempt did, and the
    # alert/incident it belongs to (the key of ``sink_correlations``).
    Column("correlation_key", String(255)),
    Column("lease_owner", String(255)),
    _timestamp("lease_expires_at"),
    _timestamp("last_attempt_at"),
    Column("attempt_log", Json),
    UniqueConstraint("run_id", "sink_name", name="uq_sink_deliveries_run_id_sink_name"),
)
Index(
    "ix_sink_deliveries_status_next_attempt_at",
    sink_deliveries.c.status,
    sink_deliveries.c.next_attempt_at,
)

# What a sink remembers per alert or incident: the Slack thread, the Jira issue, the silence.
sink_correlations = Table(
    "sink_correlations",
    metadata,
    Column("sink_name", String(255), primary_key=True),
    Column("correlation_key", String(255), primary_key=True),
    Column("external_ref", String(255), nullable=False),
    Column("data", Json),
    Column("run_id", Uuid),
    _timestamp("created_at", default=True),
    _timestamp("updated_at", default=True),
)

# The counters a Sink's ``status`` publishes (messagesSent, lastSentTime, lastError).
sink_status = Table(
    "sink_status",
    metadata,
    Column("sink_name", String(255), primary_key=True),
    Column("sink_type", String(50), nullable=False),
    Column("messages_sent", Integer, nullable=False, server_default=text("0")),
    Column("failures", Integer, nullable=False, server_default=text("0")),
    _timestamp("last_sent_time"),
    Column("last_error", Text),
    _timestamp("last_error_time"),
    _timestamp("updated_at", default=True),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("run_id", Uuid, ForeignKey("workflow_runs.id", ondelete="CASCADE"), index=True),
    Column("step_name", String(255)),
    Column("kind", String(30), nullable=False),
    Column("name", String(255), nullable=False),
    Column("arguments", Json),
    Column("exit_code", Integer),
    Column("duration_ms", Float),
    Column("output", Text),
    Column("usage", Json),
    _timestamp("created_at", default=True),
)

approvals = Table(
    "approvals",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("run_id", Uuid, ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False),
    Column("step_name", String(255), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("action", Json, nullable=False),
    Column("reason", Text),
    Column("risk", String(20)),
    Column("feedback", Text),
    Column("decided_by", String(255)),
    Column("state", Json),
    _timestamp("requested_at", default=True),
    _timestamp("decided_at"),
    _timestamp("expires_at"),
    # Approval rules: a write may need several different people; each approval is counted.
    Column("approvers_required", Integer, nullable=False, server_default=text("1")),
    Column("approved_by", Json),
    Column("rule", Json),
)

# Retention (migration 0007): rows found by age, and the columns that refer to a deleted run
# or alert, which the database checks for each row deleted (store.retention).
Index("ix_workflow_runs_completed_at", workflow_runs.c.completed_at)
Index("ix_workflow_runs_parent_run_id", workflow_runs.c.parent_run_id)
Index("ix_alerts_resolved_at", alerts.c.resolved_at)
Index("ix_alerts_parent_alert_id", alerts.c.parent_alert_id)
Index("ix_audit_events_created_at", audit_events.c.created_at)
Index("ix_notifications_received_at", notifications.c.received_at)
Index("ix_approvals_run_id", approvals.c.run_id)
Index("ix_alert_relationships_parent_alert_id", alert_relationships.c.parent_alert_id)
Index("ix_alert_relationships_child_alert_id", alert_relationships.c.child_alert_id)

# api Sources (migration 0013): a request's Idempotency-Key, per source, and the run it
# started; kept as long as that run is (the run's purge deletes it).
api_requests = Table(
    "api_requests",
    metadata,
    Column("source_name", String(255), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("body_sha256", String(64), nullable=False),
    Column(
        "run_id",
        Uuid,
        ForeignKey("workflow_runs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    _timestamp("created_at", default=True),
)

# kubernetes Sources (migration 0013): where each watch left off, and the objects it has
# seen, so a restarted watch or server misses and repeats no created/deleted event.
kubernetes_watches = Table(
    "kubernetes_watches",
    metadata,
    Column("source_name", String(255), primary_key=True),
    Column("selection", Text, nullable=False),
    Column("resource_version", String(64)),
    _timestamp("updated_at", default=True),
)

kubernetes_objects = Table(
    "kubernetes_objects",
    metadata,
    Column("source_name", String(255), primary_key=True),
    Column("uid", String(64), primary_key=True),
    Column("namespace", String(255)),
    Column("name", String(255), nullable=False),
    Column("resource_version", String(64), nullable=False),
    Column("selected", Boolean, nullable=False),
)

# chat Sources (migration 0012): one row per chat run, the question and the answer posted in
# its Slack thread; a thread's rows are the conversation a follow-up continues (store.chat).
chat_turns = Table(
    "chat_turns",
    metadata,
    Column("run_id", Uuid, ForeignKey("workflow_runs.id", ondelete="CASCADE"), primary_key=True),
    Column("source_name", String(255), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("thread_ts", String(32), nullable=False),
    Column("user_id", String(64)),
    Column("question", Text, nullable=False),
    Column("answer", Text),
    Column("reply_ts", String(32)),
    _timestamp("created_at", default=True),
    _timestamp("answered_at"),
)
Index("ix_chat_turns_thread", chat_turns.c.channel, chat_turns.c.thread_ts)

# What people said about an incident's investigation (migration 0009): whether the root cause
# was right, whether a person was needed, what fixed it. AI accuracy and escalation accuracy
# are counted from these rows (``store.kpis``).
incident_feedback = Table(
    "incident_feedback",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "incident_id",
        Uuid,
        ForeignKey("incidents.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("root_cause_correct", Boolean, nullable=False),
    Column("human_needed", Boolean),
    Column("notes", Text),
    Column("resolution", Text),
    Column("given_by", String(255), nullable=False),
    Column("source", String(20), nullable=False),
    Column("given_at", UtcDateTime(), nullable=False),
)

# The knowledge base of past incidents (migration 0010, store.knowledge): one row per finished
# investigation or postmortem written by hand. Not tied to runs or incidents by foreign key:
# memory outlives the retention of the runs it learned from. The full-text index (SQLite FTS5
# table ``knowledge_fts``, PostgreSQL generated ``search`` tsvector with a GIN index) is made
# by the migration only: neither is expressible in this MetaData.
knowledge_entries = Table(
    "knowledge_entries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("title", String(500), nullable=False),
    Column("alertname", String(255)),
    Column("namespace", String(255)),
    Column("workload", String(255)),
    Column("container", String(255)),
    Column("labels", Json, nullable=False),
    Column("root_cause", Text, nullable=False),
    Column("fix", Text, nullable=False),
    Column("findings", Json, nullable=False),
    Column("body", Text, nullable=False),
    Column("outcome", String(30), nullable=False),
    Column("confidence", Float),
    Column("run_id", Uuid, index=True),
    Column("incident_id", Uuid, index=True),
    Column("workflow", String(255)),
    Column("step_name", String(255)),
    Column("result", Json),
    Column("evidence_digest", String(64)),
    Column("correct", String(10), nullable=False, server_default=text("'unknown'")),
    Column("feedback_by", String(255)),
    Column("resolution", Text),
    Column("notes", Text),
    Column("reused", Integer, nullable=False, server_default=text("0")),
    _timestamp("created_at", nullable=False, default=True),
    _timestamp("updated_at", nullable=False, default=True),
)
Index(
    "ix_knowledge_entries_signature",
    knowledge_entries.c.alertname,
    knowledge_entries.c.workload,
    knowledge_entries.c.created_at,
)
