"""Lenient parsing of OSCAR's JSON (oscar/models.py), on bodies OSCAR really sends."""

from __future__ import annotations

from oscar.models import JobList, Service, SystemConfig

GRAYIFY = {
    "name": "grayify",
    "image": "ghcr.io/grycap/imagemagick",
    "script": "#!/bin/sh\n",
    "memory": "1Gi",
    "cpu": "1.0",
    "log_level": "CRITICAL",
    "token": "3f" * 32,
    "input": [{"storage_provider": "minio.default", "path": "grayify/in"}],
    "output": [{"storage_provider": "minio.default", "path": "grayify/out", "suffix": None}],
    "environment": {"Variables": {"INPUT_TYPE": "image"}, "secrets": None},
    "annotations": None,
    "labels": {"oscar_service": "grayify"},
    "visibility": "private",
    "allowed_users": None,
    "owner": "cluster_admin",
    "synchronous": {"min_scale": 0, "max_scale": 0},
    "some_future_field": {"x": 1},
}


def test_service_accepts_nulls_old_keys_and_unknown_fields() -> None:
    service = Service.from_api(GRAYIFY)
    assert service.annotations == {}
    assert service.allowed_users == []
    assert service.environment.variables == {"INPUT_TYPE": "image"}
    assert service.environment.secrets == {}
    assert service.output[0].suffix == []
    assert (service.input[0].bucket, service.input[0].folder) == ("grayify", "in")
    assert service.is_async
    assert service.raw["some_future_field"] == {"x": 1}


def test_service_token_stays_out_of_repr() -> None:
    assert "3f3f" not in repr(Service.from_api(GRAYIFY))


def test_job_list_reads_the_wrapped_shape() -> None:
    jobs = JobList.from_api(
        {
            "jobs": {
                "grayify-b": {"status": "Running", "creation_time": "2026-01-01T10:00:02Z"},
                "grayify-a": {"status": "Succeeded", "creation_time": "2026-01-01T10:00:01Z"},
            },
            "next_page": "tok",
            "remaining_jobs": 3,
        }
    )
    assert [job.name for job in jobs.jobs] == ["grayify-a", "grayify-b"]
    assert jobs.next_page == "tok"
    assert jobs.remaining_jobs == 3
    assert jobs.get("grayify-a") is not None and jobs.get("grayify-a").finished  # type: ignore[union-attr]


def test_job_list_reads_the_bare_map_of_old_releases() -> None:
    jobs = JobList.from_api({"grayify-a": {"status": "Pending"}})
    assert [(job.name, job.status, job.start_time) for job in jobs.jobs] == [
        ("grayify-a", "Pending", "")
    ]


def test_job_list_accepts_null_jobs() -> None:
    assert JobList.from_api({"jobs": None, "next_page": None}).jobs == []


def test_system_config_defaults_what_is_missing() -> None:
    config = SystemConfig.model_validate(
        {"config": None, "minio_provider": {"endpoint": "http://s3", "region": ""}}
    )
    assert config.minio_provider.region == "us-east-1"
    assert config.allowed_image_repositories == []
