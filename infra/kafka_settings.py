"""The Kafka settings users give (`CRM_KAFKA_*`), mapped to the stream's configuration."""

from __future__ import annotations

import os
from collections.abc import Mapping

from consumers.kafka_common import DEFAULT_GROUP_PREFIX, DEFAULT_TOPIC, KafkaConfig
from infra.settings import Settings, SettingsError


def _int_env(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name) or str(default)
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingsError(f"{name} must be an integer in {low}..{high}, got {raw!r}")
    return int(raw)


def kafka_config(settings: Settings, env: Mapping[str, str] | None = None) -> KafkaConfig:
    """The configuration for `settings.kafka_bootstrap`, tuned by `CRM_KAFKA_TOPIC`,
    `CRM_KAFKA_PARTITIONS` (6), `CRM_KAFKA_GROUP_PREFIX` (`councilcrm.`) and
    `CRM_KAFKA_SESSION_TIMEOUT_MS` (10000)."""
    env = os.environ if env is None else env
    if settings.kafka_bootstrap is None:
        raise SettingsError("CRM_KAFKA_BOOTSTRAP is not set: there is no Kafka to use")
    return KafkaConfig(
        bootstrap=settings.kafka_bootstrap,
        topic=env.get("CRM_KAFKA_TOPIC") or DEFAULT_TOPIC,
        partitions=_int_env(env, "CRM_KAFKA_PARTITIONS", 6, 1, 10_000),
        group_prefix=env.get("CRM_KAFKA_GROUP_PREFIX") or DEFAULT_GROUP_PREFIX,
        session_timeout_ms=_int_env(env, "CRM_KAFKA_SESSION_TIMEOUT_MS", 10_000, 6_000, 1_800_000),
    )
