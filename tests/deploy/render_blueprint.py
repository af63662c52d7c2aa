"""The fields of a Render Blueprint (``render.yaml``) as Render documents them, and a checker.

From the Blueprint YAML reference (https://render.com/docs/blueprint-spec) and its published JSON
schema: the keys each object admits, the required ones and the documented value sets. Only the
parts this project uses are checked in depth (web, cron and Key Value services, PostgreSQL
databases, environment groups, projects and environments); anything else is reported as unknown.
"""

from __future__ import annotations

from typing import Any

REGIONS = {"oregon", "ohio", "virginia", "frankfurt", "singapore"}
RUNTIMES = {"docker", "elixir", "go", "image", "node", "python", "ruby", "rust", "static"}
PLANS = {
    "free", "starter", "standard", "pro", "pro plus", "pro max", "pro ultra",
    "basic-256mb", "basic-1gb", "basic-4gb", "pro-4gb", "pro-8gb", "pro-16gb", "pro-32gb",
    "pro-64gb", "pro-128gb", "pro-192gb", "pro-256gb", "pro-384gb", "pro-512gb",
    "accelerated-16gb", "accelerated-32gb", "accelerated-64gb", "accelerated-128gb",
    "accelerated-256gb", "accelerated-384gb", "accelerated-512gb", "accelerated-768gb",
    "accelerated-1024gb",
}  # fmt: skip
POSTGRES_VERSIONS = {str(v) for v in range(10, 18)}
SERVICE_TYPES = {"web", "cron", "worker", "pserv", "static", "dpg", "job", "redis", "keyvalue"}
AUTO_DEPLOY_TRIGGERS = {"off", "commit", "checksPass"}

ROOT_KEYS = {"services", "databases", "envVarGroups", "projects", "ungrouped", "previews"}
RESOURCE_KEYS = {"services", "databases", "envVarGroups"}
PROJECT_KEYS = {"name", "environments"}
ENVIRONMENT_KEYS = RESOURCE_KEYS | {"name", "networking", "permissions"}
SERVER_KEYS = {
    "type", "name", "region", "plan", "runtime", "repo", "branch", "image", "rootDir",
    "dockerCommand", "dockerContext", "dockerfilePath", "numInstances", "healthCheckPath",
    "scaling", "buildCommand", "startCommand", "preDeployCommand", "registryCredential", "domain",
    "domains", "envVars", "autoDeploy", "autoDeployTrigger", "initialDeployHook", "disk",
    "buildFilter", "previews", "pullRequestPreviewsEnabled", "previewPlan",
    "maxShutdownDelaySeconds",
}  # fmt: skip
CRON_KEYS = {
    "type", "name", "region", "plan", "runtime", "schedule", "buildCommand", "startCommand",
    "dockerCommand", "dockerfilePath", "dockerContext", "registryCredential", "repo", "branch",
    "image", "envVars", "buildFilter", "rootDir", "autoDeploy", "autoDeployTrigger",
}  # fmt: skip
KEYVALUE_KEYS = {"type", "name", "region", "ipAllowList", "plan", "previewPlan", "maxmemoryPolicy"}
DATABASE_KEYS = {
    "name", "databaseName", "user", "region", "plan", "diskSizeGB", "previewPlan",
    "previewDiskSizeGB", "postgresMajorVersion", "highAvailability", "ipAllowList",
    "readReplicas",
}  # fmt: skip
SCALING_KEYS = {"minInstances", "maxInstances", "targetMemoryPercent", "targetCPUPercent"}
IMAGE_KEYS = {"url", "creds"}
ENV_VALUE_KEYS = {"key", "value", "generateValue", "sync", "previewValue"}
MAXMEMORY_POLICIES = {
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
    "volatile-random", "volatile-ttl",
}  # fmt: skip


class BlueprintChecker:
    """Collects every deviation from the documented fields, with where it is."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def check(self, blueprint: Any) -> list[str]:
        if not isinstance(blueprint, dict):
            return ["the Blueprint is not a mapping"]
        self._keys(blueprint, ROOT_KEYS, set(), "root")
        self._resources(blueprint, "root")
        for i, project in enumerate(blueprint.get("projects", [])):
            where = f"projects[{i}]"
            self._keys(project, PROJECT_KEYS, {"name", "environments"}, where)
            for j, environment in enumerate(project.get("environments", [])):
                env_where = f"{where}.environments[{j}]"
                self._keys(environment, ENVIRONMENT_KEYS, {"name"}, env_where)
                self._resources(environment, env_where)
        return self.problems

    def _keys(self, item: Any, allowed: set[str], required: set[str], where: str) -> None:
        if not isinstance(item, dict):
            self.problems.append(f"{where}: not a mapping")
            return
        for key in sorted(set(item) - allowed):
            self.problems.append(f"{where}: unknown field {key!r}")
        for key in sorted(required - set(item)):
            self.problems.append(f"{where}: missing required field {key!r}")

    def _one_of(self, value: Any, allowed: set[str], where: str) -> None:
        if value is not None and value not in allowed:
            self.problems.append(f"{where}: {value!r} is not one of the documented values")

    def _resources(self, item: dict, where: str) -> None:
        for i, group in enumerate(item.get("envVarGroups", [])):
            group_where = f"{where}.envVarGroups[{i}]"
            self._keys(group, {"name", "envVars"}, {"name", "envVars"}, group_where)
            for j, var in enumerate(group.get("envVars", [])):
                self._keys(var, ENV_VALUE_KEYS, {"key"}, f"{group_where}.envVars[{j}]")
        for i, database in enumerate(item.get("databases", [])):
            db_where = f"{where}.databases[{i}]"
            self._keys(database, DATABASE_KEYS, {"name"}, db_where)
            self._one_of(database.get("region"), REGIONS, f"{db_where}.region")
            self._one_of(database.get("plan"), PLANS, f"{db_where}.plan")
            self._one_of(
                database.get("postgresMajorVersion"), POSTGRES_VERSIONS, f"{db_where}.version"
            )
        for i, service in enumerate(item.get("services", [])):
            self._service(service, f"{where}.services[{i}]")

    def _service(self, service: Any, where: str) -> None:
        kind = service.get("type") if isinstance(service, dict) else None
        if kind in ("keyvalue", "redis"):
            self._keys(service, KEYVALUE_KEYS, {"type", "name", "ipAllowList"}, where)
            self._one_of(service.get("maxmemoryPolicy"), MAXMEMORY_POLICIES, f"{where}.policy")
        elif kind == "cron":
            self._keys(service, CRON_KEYS, {"type", "name", "runtime", "schedule"}, where)
            schedule = str(service.get("schedule", ""))
            if len(schedule.split()) != 5:
                self.problems.append(f"{where}.schedule: {schedule!r} is not a cron expression")
        elif kind in ("web", "worker", "pserv"):
            self._keys(service, SERVER_KEYS, {"type", "name", "runtime"}, where)
            scaling = service.get("scaling")
            if scaling is not None:
                self._keys(scaling, SCALING_KEYS, set(), f"{where}.scaling")
                for key in ("targetCPUPercent", "targetMemoryPercent"):
                    if key in scaling and not 1 <= scaling[key] <= 90:
                        self.problems.append(f"{where}.scaling.{key}: must be 1-90")
            delay = service.get("maxShutdownDelaySeconds")
            if delay is not None and not (isinstance(delay, int) and 1 <= delay <= 300):
                self.problems.append(f"{where}.maxShutdownDelaySeconds: must be 1-300")
            self._one_of(service.get("autoDeployTrigger"), AUTO_DEPLOY_TRIGGERS, f"{where}.trigger")
        else:
            self.problems.append(f"{where}: unsupported or missing service type {kind!r}")
            return
        self._one_of(service.get("region"), REGIONS, f"{where}.region")
        self._one_of(service.get("plan"), PLANS, f"{where}.plan")
        if "runtime" in service:
            self._one_of(service["runtime"], RUNTIMES, f"{where}.runtime")
        if "image" in service:
            self._keys(service["image"], IMAGE_KEYS, {"url"}, f"{where}.image")
            creds = service["image"].get("creds")
            if creds is not None:
                self._keys(creds, {"fromRegistryCreds"}, {"fromRegistryCreds"}, f"{where}.creds")
        if service.get("runtime") == "image" and "image" not in service:
            self.problems.append(f"{where}: runtime 'image' needs an 'image' field")
        for j, var in enumerate(service.get("envVars", [])):
            self._env_var(var, f"{where}.envVars[{j}]")

    def _env_var(self, var: Any, where: str) -> None:
        if not isinstance(var, dict):
            self.problems.append(f"{where}: not a mapping")
        elif "fromGroup" in var:
            self._keys(var, {"fromGroup"}, {"fromGroup"}, where)
        elif "fromDatabase" in var:
            self._keys(var, {"key", "fromDatabase"}, {"key", "fromDatabase"}, where)
            self._keys(var["fromDatabase"], {"name", "property"}, {"name", "property"}, where)
        elif "fromService" in var:
            self._keys(var, {"key", "fromService"}, {"key", "fromService"}, where)
            ref = var["fromService"]
            self._keys(ref, {"type", "name", "property", "envVarKey"}, {"type", "name"}, where)
            self._one_of(ref.get("type"), SERVICE_TYPES, f"{where}.fromService.type")
        else:
            self._keys(var, ENV_VALUE_KEYS, {"key"}, where)
