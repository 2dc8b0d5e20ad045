"""What a model is told about a tool: its name, description and JSON schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ('ObjectJsonSchema', 'ToolDefinition')

ObjectJsonSchema = dict[str, Any]
"""A JSON schema whose root is an object."""


@dataclass(slots=True)
class ToolDefinition:
    """A tool offered to the model: a function tool, or an output tool that carries the final result."""

    name: str
    description: str
    parameters_json_schema: ObjectJsonSchema
    outer_typed_dict_key: str | None = None
    """When set, the tool's arguments are wrapped under this key (used for non-object result types)."""
    strict: bool | None = None
    """Ask the vendor to follow the schema exactly, where it supports that (OpenAI's strict mode)."""
