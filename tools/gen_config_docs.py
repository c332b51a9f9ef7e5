"""Write docs/config.md, the config reference, from the protocols' pydantic schemas and the built-in recipes.

Every key of every protocol's schema gets one row: its type and range, its default and its meaning (the
field's own description, then the note for that key in tools/config_notes.yaml). Below each protocol, the
values its recipes set that differ from the schema's defaults. Run from the repository root:

    python tools/gen_config_docs.py           # rewrite docs/config.md
    python tools/gen_config_docs.py --check   # exit 1 when docs/config.md is stale (tests/test_docs.py)
"""
from __future__ import annotations

import argparse
import functools
import operator
import sys
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from distill.config import recipe_names
from distill.protocols import PROTOCOLS, load_config, protocol

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "config.md"
NOTES = Path(__file__).with_name("config_notes.yaml")
NAME = "<name>"  # the placeholder for a key of a mapping (`students.<name>.lam`)
ITEM = "[]"  # the placeholder for an item of a list of sections (`teacher.candidates[].lr`)
ORDER = ("forecast", "classification", "privileged", "lupi-synthetic")  # the reference's order of protocols
SKIPPED = ("protocol", "name", "description")  # every recipe sets these; shown in the recipe headings


def render_value(value: Any) -> str:
    """A value as it would be written in YAML, on one line."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text.removesuffix("\n...").strip()


def _is_section(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _without_none(annotation: Any) -> tuple[Any, bool]:
    """The annotation without `| None`, and whether None was allowed."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        return (args[0] if len(args) == 1 else functools.reduce(operator.or_, args)), optional
    return annotation, False


def render_type(annotation: Any) -> str:
    """A short, readable type: `ffill` or `zero`, int, list of float, mapping of name to section."""
    annotation, optional = _without_none(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        limits = ", ".join(filter(None, (render_range(info) for info in args[1:] if isinstance(info, FieldInfo))))
        text = render_type(args[0]) + (f" ({limits})" if limits else "")
    elif origin is typing.Literal:
        text = " or ".join(f"`{arg}`" for arg in args)
    elif origin in (typing.Union, types.UnionType):
        text = " or ".join(render_type(arg) for arg in args)
    elif origin is list:
        text = f"list of {render_type(args[0])}"
    elif origin is dict:
        text = f"mapping of str to {render_type(args[1])}"
    elif _is_section(annotation):
        text = "section"
    elif annotation is typing.Any:
        text = "any"
    else:
        text = getattr(annotation, "__name__", str(annotation))
    return f"{text} or null" if optional else text


CONSTRAINTS = {annotated_types.Ge: (">=", "ge"), annotated_types.Gt: (">", "gt"), annotated_types.Le: ("<=", "le"),
               annotated_types.Lt: ("<", "lt")}


def render_range(field: FieldInfo) -> str:
    """The field's limits (`>= 1`, `> 0`, at least 1 item), from its pydantic metadata."""
    limits = []
    for item in field.metadata:
        for kind, (sign, attribute) in CONSTRAINTS.items():
            if isinstance(item, kind):
                limits.append(f"{sign} {getattr(item, attribute)}")
        if isinstance(item, annotated_types.MinLen) and item.min_length:
            limits.append(f"at least {item.min_length} item{'s' if item.min_length > 1 else ''}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            limits.append(f"matches `{pattern}`")
    return ", ".join(limits)


def default_of(field: FieldInfo) -> Any:
    """The field's default value (PydanticUndefined when the key is required)."""
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def section_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The section class a field holds, and how its keys continue: `.` (a section), `.<name>.` (a mapping of
    sections) or `[].` (a list of sections)."""
    annotation, _ = _without_none(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_section(annotation):
        return annotation, "."
    if origin is dict and _is_section(args[1]):
        return args[1], f".{NAME}."
    if origin is list and args and _is_section(args[0]):
        return args[0], f"{ITEM}."
    return None, ""


def schema_keys(schema: type[BaseModel], prefix: str = "") -> dict[str, FieldInfo]:
    """Every key of a schema, dotted, in declaration order; sections are expanded (their own key is kept too)."""
    keys: dict[str, FieldInfo] = {}
    for name, field in schema.model_fields.items():
        key = prefix + name
        keys[key] = field
        section, joint = section_of(field.annotation)
        if section is not None:
            keys.update(schema_keys(section, key + joint))
    return keys


def schema_sections(schema: type[BaseModel], prefix: str = "") -> dict[str, type[BaseModel]]:
    """The section classes of a schema by key, for their docstrings."""
    sections: dict[str, type[BaseModel]] = {}
    for name, field in schema.model_fields.items():
        section, joint = section_of(field.annotation)
        if section is not None:
            key = prefix + name + ("" if joint == "." else joint.rstrip("."))
            sections[key] = section
            sections.update(schema_sections(section, prefix + name + joint))
    return sections


def recipe_settings(config: BaseModel, prefix: str = "") -> dict[str, Any]:
    """The values a resolved config holds that differ from its schema's defaults (every value of a mapping
    entry, such as one student, that differs from the entry's defaults)."""
    settings: dict[str, Any] = {}
    for name, field in type(config).model_fields.items():
        if not prefix and name in SKIPPED:
            continue
        key, value = prefix + name, getattr(config, name)
        if isinstance(value, BaseModel):
            settings.update(recipe_settings(value, key + "."))
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            for entry, section in value.items():
                settings.update(recipe_settings(section, f"{key}.{entry}."))
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            settings[key] = [v.model_dump(exclude_defaults=True) for v in value]  # e.g. teacher.blend
        elif default_of(field) is PydanticUndefined or value != default_of(field):
            settings[key] = value
    return settings


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def protocol_page(name: str, notes: dict[str, str], recipes: list[str]) -> list[str]:
    """The section of docs/config.md for one protocol."""
    schema = protocol(name).schema
    lines = [f"## Protocol `{name}`", "", _first_paragraph(schema.__doc__), "",
             f"Recipes: {', '.join(f'`{recipe}`' for recipe in recipes)}.", "",
             "| key | type | default | meaning |", "|---|---|---|---|"]
    for key, field in schema_keys(schema).items():
        default = default_of(field)
        if key in SKIPPED or isinstance(default, BaseModel):  # a section with defaults: its keys follow
            continue
        default_text = "required" if default is PydanticUndefined else f"`{render_value(default)}`"
        kind = render_type(field.annotation)
        limits = render_range(field)
        meaning = " ".join(part if part.endswith(".") else part + "." for part in (field.description, notes.get(key))
                           if part)
        lines.append(f"| `{key}` | {_cell(kind + (f' ({limits})' if limits else ''))} | {_cell(default_text)} | "
                     f"{_cell(meaning)} |")
    documented = [(key, " ".join(section.__doc__.split())) for key, section in schema_sections(schema).items()
                  if section.__doc__ and section.__doc__ != BaseModel.__doc__]
    if documented:
        lines += ["", "Sections:", ""] + [f"- `{key}`: {doc}" for key, doc in documented]
    for recipe in recipes:
        config = load_config(recipe)
        lines += ["", f"### Recipe `{recipe}`", "", config.description, "",
                  "| key | value |", "|---|---|"]
        settings = recipe_settings(config)
        lines += [f"| `{key}` | `{_cell(render_value(value))}` |" for key, value in settings.items()]
        if not settings:
            lines[-2:] = ["Every key at its default."]
    return lines


def read_notes() -> dict[str, dict[str, str]]:
    """The hand-written notes by protocol and key (tools/config_notes.yaml)."""
    return yaml.safe_load(NOTES.read_text()) or {}


def unknown_note_keys() -> list[str]:
    """Notes naming a key their protocol's schema does not have (a renamed or removed key)."""
    notes = read_notes()
    return [f"{name}: {key}" for name, keyed in notes.items() for key in keyed
            if name not in PROTOCOLS or key not in schema_keys(protocol(name).schema)]


def config_reference() -> str:
    """The whole text of docs/config.md."""
    notes = read_notes()
    order = [name for name in ORDER if name in PROTOCOLS] + [name for name in PROTOCOLS if name not in ORDER]
    by_protocol: dict[str, list[str]] = {name: [] for name in order}
    for recipe in recipe_names():
        by_protocol[load_config(recipe).protocol].append(recipe)
    lines = ["# Config reference", "",
             "<!-- generated by tools/gen_config_docs.py from the schemas and recipes; do not edit by hand -->", "",
             "A recipe is a YAML file naming its `protocol`; `distill run RECIPE --set key=value` overrides any key "
             "below (the value is read as YAML: `--set teacher.options={hidden: 32}`). An unknown key or a bad value "
             "is one line, `distill: error: ...`. Every run saves its resolved config as `config.yaml`. "
             "`<name>` stands for an entry of a mapping (a student's name), `[]` for an item of a list. "
             "Every config also has `name`, `description` and `seed` (one seed for everything: the same config and "
             "seed give the same numbers on CPU).", ""]
    for name, recipes in by_protocol.items():
        lines += protocol_page(name, notes.get(name, {}), recipes) + [""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/config.md is not up to date")
    args = parser.parse_args(argv)
    unknown = unknown_note_keys()
    if unknown:
        print(f"tools/config_notes.yaml names keys the schemas lack: {', '.join(unknown)}", file=sys.stderr)
        return 1
    text = config_reference()
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_text() != text:
            print("docs/config.md is stale: run python tools/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
