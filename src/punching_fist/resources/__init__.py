"""The user-facing resources (Source, Workflow, Sink, OperatorConfig) and their loading."""

from punching_fist.resources.loader import (
    KINDS,
    LoadedResource,
    Resource,
    ResourceSet,
    build_resource_set,
    load_directory,
    parse_yaml,
)
from punching_fist.resources.operator_config import OperatorConfig
from punching_fist.resources.sink import Sink
from punching_fist.resources.source import Source
from punching_fist.resources.workflow import Workflow

__all__ = [
    "KINDS",
    "LoadedResource",
    "OperatorConfig",
    "Resource",
    "ResourceSet",
    "Sink",
    "Source",
    "Workflow",
    "build_resource_set",
    "load_directory",
    "parse_yaml",
]
