"""Server-side HTML rendering of the OpenAPI document for `GET /docs`: readable offline, no script, no CDN.

Pure: takes the document, returns one HTML string. Every text from the document is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:2px solid #ddd;margin-top:2.5rem}
section.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.method{display:inline-block;min-width:4.5rem;font-weight:bold;text-transform:uppercase}
.get{color:#1565c0}.post{color:#2e7d32}.put,.patch{color:#ef6c00}.delete{color:#c62828}
code{background:#f4f4f4;padding:0 .2rem;border-radius:3px}
table{border-collapse:collapse;margin:.3rem 0}td,th{border:1px solid #e0e0e0;padding:.2rem .5rem;
text-align:left;vertical-align:top}nav ul{columns:3}
"""


def render_docs_page(document: dict[str, Any]) -> str:
    info = document["info"]
    operations = _operations_by_tag(document)
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(info['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} <small>{escape(info['version'])}</small></h1>",
        "".join(f"<p>{escape(paragraph)}</p>" for paragraph in info.get("description", "").split("\n\n")),
        "<p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a> (OpenAPI "
        f"{escape(document['openapi'])}).</p>",
        "<nav><ul>" + "".join(f"<li><a href='#tag-{_anchor(tag)}'>{escape(tag)}</a></li>"
                              for tag in operations) + "<li><a href='#schemas'>Schemas</a></li></ul></nav>",
    ]
    for tag, entries in operations.items():
        parts.append(f"<h2 id='tag-{_anchor(tag)}'>{escape(tag)}</h2>")
        parts.extend(_operation_html(method, path, operation, document["components"]["responses"])
                     for method, path, operation in entries)
    parts.append("<h2 id='schemas'>Schemas</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='schema-{_anchor(name)}'>{escape(name)}</h3>{_schema_html(schema)}")
    parts.append("</body></html>")
    return "\n".join(parts)


def _operations_by_tag(document: dict[str, Any]) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
    grouped: dict[str, list[tuple[str, str, dict[str, Any]]]] = {tag["name"]: [] for tag in document["tags"]}
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            grouped.setdefault(operation["tags"][0], []).append((method, path, operation))
    return grouped


def _operation_html(method: str, path: str, operation: dict[str, Any], shared: dict[str, Any]) -> str:
    parts = [f"<section class='op' id='{escape(operation['operationId'])}'>",
             f"<h3><span class='method {method}'>{method}</span> <code>{escape(path)}</code></h3>",
             f"<p><strong>{escape(operation['summary'])}</strong></p>"]
    if "description" in operation:
        parts.append(f"<p>{escape(operation['description'])}</p>")
    parts.append(f"<p>Authentication: {_auth_text(operation)}</p>")
    if operation.get("parameters"):
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{_type_label(p['schema'])}</td><td>{escape(p.get('description', ''))}</td></tr>"
            for p in operation["parameters"])
        parts.append(f"<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>About</th></tr>{rows}</table>")
    if "requestBody" in operation:
        for media, content in operation["requestBody"]["content"].items():
            parts.append(f"<p>Request body (<code>{escape(media)}</code>):</p>")
            parts.append(_schema_html(content["schema"]))
    rows = "".join(f"<tr><td>{escape(status)}</td><td>{_response_text(response, shared)}</td></tr>"
                   for status, response in operation["responses"].items())
    parts.append(f"<table><tr><th>Status</th><th>Response</th></tr>{rows}</table></section>")
    return "".join(parts)


def _auth_text(operation: dict[str, Any]) -> str:
    if operation.get("x-authenticated-by"):
        return escape(operation["x-authenticated-by"])
    schemes = [name for requirement in operation["security"] for name in requirement]
    if not schemes:
        return "none"
    text = " or ".join(f"<code>{escape(name)}</code>" for name in schemes)
    if "x-permission" in operation:
        text += f"; API keys need <code>{escape(operation['x-permission'])}</code>"
    return text


def _response_text(response: dict[str, Any], shared: dict[str, Any]) -> str:
    if "$ref" in response:
        response = shared[response["$ref"].rsplit("/", 1)[-1]]
    text = escape(response["description"])
    for media, content in response.get("content", {}).items():
        text += f" — <code>{escape(media)}</code> {_type_label(content['schema'])}"
    return text


def _schema_html(schema: dict[str, Any]) -> str:
    """A table of an object's fields, or the one-line type of anything else."""
    if schema.get("type") != "object" or not schema.get("properties"):
        return f"<p>{_type_label(schema)}</p>"
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{_type_label(field)}</td>"
        f"<td>{'required' if name in required else 'optional'}</td>"
        f"<td>{escape(field.get('description', ''))}</td></tr>"
        for name, field in schema["properties"].items())
    return f"<table><tr><th>Field</th><th>Type</th><th></th><th>About</th></tr>{rows}</table>"


def _type_label(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"<a href='#schema-{_anchor(name)}'>{escape(name)}</a>"
    if "oneOf" in schema:
        return " or ".join(_type_label(option) for option in schema["oneOf"])
    if "const" in schema:
        return f"<code>{escape(repr(schema['const']))}</code>"
    kinds = schema.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    labels = []
    for kind in kinds:
        if kind == "array":
            labels.append(f"array of {_type_label(schema.get('items', {}))}")
        elif kind == "object" and schema.get("properties"):
            fields = ", ".join(escape(name) for name in schema["properties"])
            labels.append(f"object {{{fields}}}")
        else:
            labels.append(escape(str(kind)))
    label = " | ".join(labels)
    if "enum" in schema:
        label += " (" + ", ".join(f"<code>{escape(str(value))}</code>" for value in schema["enum"]) + ")"
    details = [f"{key} {schema[key]}" for key in ("format", "minimum", "maximum", "maxLength", "pattern")
               if key in schema]
    return label + (f" <small>{escape('; '.join(details))}</small>" if details else "")


def _anchor(name: str) -> str:
    return "".join(char if char.isalnum() else "-" for char in name.lower())
