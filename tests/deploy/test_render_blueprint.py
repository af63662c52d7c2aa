"""render.yaml: valid against Render's documented Blueprint fields, and the deployment it asks for.

Render itself cannot be reached from here: these checks are static (the fields and values Render
documents, and the references between the Blueprint, the Dockerfile and the settings).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.settings import ServiceSettings
from tests.deploy.render_blueprint import BlueprintChecker

ROOT = Path(__file__).resolve().parents[2]
BLUEPRINT = yaml.safe_load((ROOT / "render.yaml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SECRET_NAME = re.compile(r"(SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY)")


def environments() -> dict[str, dict[str, Any]]:
    return {
        env["name"]: env for project in BLUEPRINT["projects"] for env in project["environments"]
    }


def groups() -> dict[str, list[dict[str, Any]]]:
    found = {g["name"]: g["envVars"] for g in BLUEPRINT.get("envVarGroups", [])}
    for env in environments().values():
        found.update({g["name"]: g["envVars"] for g in env.get("envVarGroups", [])})
    return found


def services(env: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [s for s in env["services"] if s["type"] == kind]


def web(name: str) -> dict[str, Any]:
    (service,) = services(environments()[name], "web")
    return service


def resolved_env(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """key -> its definition, groups expanded (a later definition wins, as on Render)."""
    found: dict[str, dict[str, Any]] = {}
    for var in service.get("envVars", []):
        if "fromGroup" in var:
            found.update({v["key"]: v for v in groups()[var["fromGroup"]]})
        else:
            found[var["key"]] = var
    return found


def test_blueprint_uses_only_documented_fields() -> None:
    assert BlueprintChecker().check(BLUEPRINT) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: b["projects"][0]["environments"][0]["services"][1].update(healthcheckPath="/"),
         "unknown field 'healthcheckPath'"),
        (lambda b: b["projects"][0]["environments"][0]["services"][1].update(region="mars"),
         "'mars' is not one of the documented values"),
        (lambda b: b["projects"][0]["environments"][0]["services"][0].pop("ipAllowList"),
         "missing required field 'ipAllowList'"),
        (lambda b: b["projects"][0]["environments"][0]["services"][1].update(
            maxShutdownDelaySeconds=301), "must be 1-300"),
        (lambda b: b["projects"][0]["environments"][0]["services"][2].update(schedule="daily"),
         "is not a cron expression"),
    ],
    ids=["typo", "region", "required", "shutdown-delay", "schedule"],
)  # fmt: skip
def test_checker_rejects_what_render_would(mutate: Any, expected: str) -> None:
    broken = copy.deepcopy(BLUEPRINT)
    mutate(broken)
    assert any(expected in problem for problem in BlueprintChecker().check(broken))


def test_staging_and_production_each_have_a_web_service_database_and_key_value() -> None:
    envs = environments()
    assert set(envs) == {"staging", "production"}
    databases = {env: [d["name"] for d in envs[env]["databases"]] for env in envs}
    assert len(databases["staging"]) == len(databases["production"]) == 1
    assert set(databases["staging"]).isdisjoint(databases["production"])
    for name, env in envs.items():
        service_env = resolved_env(web(name))
        assert service_env["RAG_DATABASE_URL"]["fromDatabase"]["name"] == databases[name][0]
        (key_value,) = services(env, "keyvalue")
        assert key_value["maxmemoryPolicy"] == "noeviction"  # rate-limit counters stay
        assert service_env["RAG_REDIS_URL"]["fromService"] == {
            "type": "keyvalue",
            "name": key_value["name"],
            "property": "connectionString",
        }
        assert service_env["RAG_ENV"]["value"] == name
    assert envs["production"]["permissions"]["protection"] == "enabled"


@pytest.mark.parametrize("name", ["staging", "production"])
def test_web_service_health_scaling_and_shutdown(name: str) -> None:
    service = web(name)
    assert service["healthCheckPath"] == "/readyz"
    assert service["scaling"]["minInstances"] == 2
    assert service["scaling"]["maxInstances"] == 10
    assert "numInstances" not in service  # autoscaled, not fixed
    # the migration script the image ships (Dockerfile copies deploy/container/ to /app/bin)
    assert service["preDeployCommand"] == "/app/bin/migrate.sh"
    assert "deploy/container/migrate.sh" in DOCKERFILE
    assert (ROOT / "deploy" / "container" / "migrate.sh").stat().st_mode & 0o111
    # Render waits this long after SIGTERM: longer than the longest answer may take
    settings_env = {
        k: v["value"] for k, v in resolved_env(service).items() if "value" in v and k != "RAG_ENV"
    }
    settings = ServiceSettings(
        _env_file=None, **{k.removeprefix("RAG_").lower(): v for k, v in settings_env.items()}
    )
    longest_answer_s = max(settings.request_timeout_s, settings.llm_total_budget_s)
    assert service["maxShutdownDelaySeconds"] > longest_answer_s


@pytest.mark.parametrize("name", ["staging", "production"])
def test_secrets_are_never_in_the_file(name: str) -> None:
    env = environments()[name]
    for service in env["services"]:
        for key, var in resolved_env(service).items():
            if SECRET_NAME.search(key):
                assert "value" not in var, f"{key} has a value in render.yaml"
                assert var.get("sync") is False or var.get("generateValue") is True, key
    for group in env.get("envVarGroups", []):  # groups hold plain values only
        assert not any(SECRET_NAME.search(v["key"]) for v in group["envVars"]), group["name"]


def test_every_setting_named_is_a_real_setting() -> None:
    fields = set(ServiceSettings.model_fields)
    names = {key for vars_ in groups().values() for key in (v["key"] for v in vars_)}
    for env in environments().values():
        for service in env["services"]:
            names |= {v["key"] for v in service.get("envVars", []) if "key" in v}
    unknown = {
        n for n in names if n.startswith("RAG_") and n.removeprefix("RAG_").lower() not in fields
    }
    # RAG_INGEST_ON_START and RAG_DOCS_DIR belong to the container's start script
    assert unknown <= {"RAG_INGEST_ON_START"}, unknown


def test_references_resolve_within_each_environment() -> None:
    for env in environments().values():
        databases = {d["name"] for d in env["databases"]}
        names = {s["name"] for s in env["services"]}
        for service in env["services"]:
            for var in service.get("envVars", []):
                if "fromGroup" in var:
                    assert var["fromGroup"] in groups()
                if "fromDatabase" in var:
                    assert var["fromDatabase"]["name"] in databases
                if "fromService" in var:
                    assert var["fromService"]["name"] in names


@pytest.mark.parametrize("name", ["staging", "production"])
def test_daily_backup_job_runs_the_backup_script_in_the_image(name: str) -> None:
    env = environments()[name]
    (cron,) = services(env, "cron")
    minute, hour, day, month, weekday = cron["schedule"].split()
    assert (day, month, weekday) == ("*", "*", "*")
    assert minute.isdigit()
    assert hour.isdigit()
    assert cron["dockerCommand"] == "/app/deploy/backup.sh"
    assert "COPY deploy/*.sh /app/deploy/" in DOCKERFILE
    assert (
        resolved_env(cron)["RAG_DATABASE_URL"]["fromDatabase"]["name"]
        == env["databases"][0]["name"]
    )
    assert cron["image"]["url"] == web(name)["image"]["url"]
