#!/usr/bin/env python3
"""Key-set comparison of JSON documents against a golden document.

Rule (hub contract: "the key set, recursively, arrays by their element"):

- objects: the set of keys must be equal; each common value is compared
  recursively;
- arrays: every element of the document's array is compared against the
  golden array's FIRST element (an empty array in the document is fine; an
  empty golden array accepts any elements);
- scalars and null compare as leaves (their values and scalar types are not
  checked);
- null in the document is accepted wherever the golden has a value of any
  kind (e.g. ``"spec": null`` for a guest whose config could not be read);
- a container where the golden has another kind (object vs array, object or
  array vs scalar, scalar vs object or array) is a type mismatch.  A golden
  null is a leaf that accepts anything.

Usage as a program::

    python3 keyset.py GOLDEN DOC      # DOC may be '-' for stdin

prints one difference per line and exits 1 when there is any, 0 when the key
sets are equal, 2 on a usage or read/parse error.
"""

import json
import sys

__all__ = ["keyset_diff", "main"]


def _kind(value):
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _join(path, key):
    return key if not path else path + "." + key


def _walk(golden, doc, path, out):
    if doc is None or golden is None:
        return  # null accepted where golden has a value; golden null is a leaf
    g_kind, d_kind = _kind(golden), _kind(doc)
    if g_kind == "object":
        if d_kind != "object":
            out.append("type mismatch at %s: expected object, got %s"
                       % (path or "$", d_kind))
            return
        for key in golden:
            if key not in doc:
                out.append("missing key: %s" % _join(path, key))
        for key in doc:
            if key not in golden:
                out.append("extra key: %s" % _join(path, key))
        for key in golden:
            if key in doc:
                _walk(golden[key], doc[key], _join(path, key), out)
        return
    if g_kind == "array":
        if d_kind != "array":
            out.append("type mismatch at %s: expected array, got %s"
                       % (path or "$", d_kind))
            return
        if not golden:
            return
        for i, elem in enumerate(doc):
            _walk(golden[0], elem, "%s[%d]" % (path or "$", i), out)
        return
    # golden is a scalar leaf
    if d_kind in ("object", "array"):
        out.append("type mismatch at %s: expected %s, got %s"
                   % (path or "$", g_kind, d_kind))


def keyset_diff(golden, doc):
    """Return the list of key-set differences of doc against golden
    (empty when equal).  Each entry is one human-readable line such as
    ``missing key: host.disks[0].serial`` or ``extra key: guests[1].spec.foo``.
    """
    out = []
    _walk(golden, doc, "", out)
    return out


def _load(path):
    if path == "-":
        return json.load(sys.stdin)
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] in ("-h", "--help"):
        sys.stderr.write("usage: keyset.py GOLDEN DOC   (DOC may be '-')\n")
        return 2
    try:
        golden = _load(argv[0])
        doc = _load(argv[1])
    except (OSError, ValueError) as e:
        sys.stderr.write("keyset.py: %s\n" % e)
        return 2
    diffs = keyset_diff(golden, doc)
    for line in diffs:
        print(line)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
