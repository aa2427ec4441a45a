"""Request parameter handling the way pve-http-server and PVE::JSONSchema do it.

Everything here is pure (no world state): naive form decoding, list
splitting, the schema checker with PVE's exact error texts, property-string
parsing, tags and sizes.
"""

import json
import re

# --------------------------------------------------------------------------
# Errors raised by handlers; server.py turns them into HTTP responses.


class ApiError(Exception):
    """An error answered like PVE does: status, message (first line is the
    reason phrase) and optional per-parameter errors."""

    def __init__(self, status, message, errors=None):
        super().__init__(message)
        self.status = status
        self.message = message if message.endswith("\n") else message + "\n"
        self.errors = errors


class ParamError(ApiError):
    """400 Parameter verification failed. (PVE::Exception raise_param_exc)"""

    def __init__(self, errors):
        super().__init__(400, "Parameter verification failed.", errors)


class PermError(ApiError):
    """403 from raise_perm_exc: 'Permission check failed (<what>)' or bare."""

    def __init__(self, what=None):
        text = "Permission check failed"
        if what:
            text += " (%s)" % what
        super().__init__(403, text)


class NotImplementedErr(ApiError):
    def __init__(self, method, path):
        super().__init__(501, "Method '%s %s' not implemented" % (method, path))


def die(msg):
    """A plain Perl die in a handler: HTTP 500 with the text."""
    raise ApiError(500, msg)


# --------------------------------------------------------------------------
# Form decoding (pve-http-server AnyEvent.pm decode_urlencoded)

_PCT = re.compile(rb"%([0-9a-fA-F]{2})")


def _unescape(raw):
    raw = raw.replace(b"+", b" ")
    return _PCT.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def _perl_split(data, sep_re):
    """Perl split: trailing empty fields are removed."""
    parts = re.split(sep_re, data)
    while parts and parts[-1] == b"":
        parts.pop()
    return parts


def decode_urlencoded(data):
    """Decode like PVE: split on '&' AND ';', each pair on '=' keeping only
    the first two pieces, '+' is a space, %XX decoded, repeated keys become
    lists, a key without value maps to None.  Returns dict str -> value."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    res = {}
    if not data:
        return res
    data = re.sub(rb"\s+$", b"", data)
    if not data:
        return res
    for kv in _perl_split(data, rb"[&;]"):
        pieces = _perl_split(kv, rb"=")
        k = pieces[0] if pieces else b""
        k = _unescape(k).decode("utf-8", "replace")
        if len(pieces) > 1:
            v = _unescape(pieces[1]).decode("utf-8", "replace")
            if k in res and res[k] is not None:
                old = res[k]
                if isinstance(old, list):
                    old.append(v)
                else:
                    res[k] = [old, v]
            else:
                res[k] = v
        else:
            res[k] = None
    return res


def decode_json_body(data):
    """application/json bodies (pve-http-server 'fix #2766')."""
    try:
        obj = json.loads(data.decode("utf-8") if data else "{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, "unable to parse JSON body - %s" % e)
    if not isinstance(obj, dict):
        raise ApiError(400, "unable to parse JSON body - not an object")
    return obj


def split_list(value):
    """PVE::Tools::split_list: split on ',' ';' or whitespace (and \\0)."""
    if value is None:
        return []
    if isinstance(value, list):
        out = []
        for v in value:
            out.extend(split_list(v))
        return out
    value = str(value)
    return [x for x in re.split(r"[,;\s\0]+", value.strip()) if x != ""]


# --------------------------------------------------------------------------
# Schema checking (PVE::JSONSchema), with exact error texts.

class FormatError(Exception):
    """Raised by format checkers; the text should end with '\\n'."""


class JsonBool:
    """Marker for a real JSON boolean coming from an application/json body."""

    def __init__(self, v):
        self.v = bool(v)

    def __str__(self):
        return "1" if self.v else "0"


def wrap_json_params(obj):
    """Convert JSON body values to the scalar forms the checker expects."""
    out = {}
    for k, v in obj.items():
        if isinstance(v, bool):
            out[k] = JsonBool(v)
        elif v is None:
            out[k] = None
        elif isinstance(v, (int, float)):
            out[k] = repr(v) if isinstance(v, float) else str(v)
        elif isinstance(v, str):
            out[k] = v
        else:
            out[k] = v  # list / dict -> type error later
    return out


_INT_RE = re.compile(r"^-?\d+$")
_NUM_RE = re.compile(r"^[+-]?(\d+|\d+\.\d*|\.\d+)([eE][+-]?\d+)?$")


def _check_type(ptype, value):
    """Returns (ok, normalized or error text)."""
    if isinstance(value, (list, dict)):
        vt = "ARRAY" if isinstance(value, list) else "HASH"
        return False, "type check ('%s') failed - got %s" % (ptype, vt)
    if isinstance(value, JsonBool):
        if ptype == "boolean":
            return True, 1 if value.v else 0
        return False, "type check ('%s') failed - got JSON::PP::Boolean" % ptype
    s = str(value)
    if ptype == "boolean":
        if s == "1":
            return True, 1
        if s == "0":
            return True, 0
        return False, "type check ('boolean') failed - got '%s'" % s
    if ptype == "integer":
        if _INT_RE.match(s):
            return True, int(s)
        return False, "type check ('integer') failed - got '%s'" % s
    if ptype == "number":
        if _NUM_RE.match(s):
            return True, s
        return False, "type check ('number') failed - got '%s'" % s
    return True, s


def validate(params, schema):
    """Validate params against schema {name: spec}.  spec keys: type
    (string/integer/number/boolean), optional, enum, minimum, maximum,
    maxLength, pattern, format (callable raising FormatError, may return a
    normalised value), requires (name of another property).  Returns the
    normalised params (a key sent without value maps to None).  Raises
    ParamError."""
    errors = {}
    out = {}
    for k, v in params.items():
        spec = schema.get(k)
        if spec is None:
            m = re.match(r"^([a-z]+)(\d+)$", k)
            if m and (m.group(1) + "[n]") in schema:
                spec = schema[m.group(1) + "[n]"]
                if int(m.group(2)) > spec.get("max_index", 255):
                    spec = None
        if spec is None:
            errors[k] = ("property is not defined in schema and the schema "
                         "does not allow additional properties")
            continue
        if v is None:
            out[k] = None
            continue
        ptype = spec.get("type", "string")
        ok, nv = _check_type(ptype, v)
        if not ok:
            errors[k] = nv
            continue
        if ptype in ("integer", "number"):
            num = float(nv)
            if "minimum" in spec and num < spec["minimum"]:
                errors[k] = "value must have a minimum value of %s" % spec["minimum"]
                continue
            if "maximum" in spec and num > spec["maximum"]:
                errors[k] = "value must have a maximum value of %s" % spec["maximum"]
                continue
        if ptype == "string":
            if "maxLength" in spec and len(nv) > spec["maxLength"]:
                errors[k] = "value may only be %d characters long" % spec["maxLength"]
                continue
            if "enum" in spec and nv not in spec["enum"]:
                errors[k] = "value '%s' does not have a value in the enumeration '%s'" % (
                    nv, ", ".join(spec["enum"]))
                continue
            if "pattern" in spec and not re.fullmatch(spec["pattern"], nv):
                errors[k] = "value does not match the regex pattern"
                continue
            fmt = spec.get("format")
            if fmt is not None:
                try:
                    r = fmt(nv, k)
                    if r is not None:
                        nv = r
                except FormatError as e:
                    errors[k] = "invalid format - %s" % e
                    continue
        out[k] = nv
    for k, spec in schema.items():
        if k.endswith("[n]"):
            continue
        if not spec.get("optional") and out.get(k) is None and k not in errors:
            errors[k] = "property is missing and it is not optional"
    for k, spec in schema.items():
        req = spec.get("requires")
        if req and out.get(k) is not None and out.get(req) is None and req not in errors:
            errors[req] = "missing property required by '%s'" % k
    if errors:
        raise ParamError(errors)
    return out


# --------------------------------------------------------------------------
# Formats

def fmt_vmid_list(v, key):
    for x in split_list(v):
        if not re.fullmatch(r"[1-9]\d{2,8}", x):
            raise FormatError("value '%s' does not look like a valid VM ID\n" % x)
    return None


def fmt_configid(v, key):
    if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_\-]+", v):
        raise FormatError("invalid configuration ID '%s'\n" % v)


def fmt_dns_name(v, key):
    lab = r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?"
    if not re.fullmatch(r"(%s\.)*%s" % (lab, lab), v):
        raise FormatError("value does not look like a valid DNS name\n")


def fmt_storage_id(v, key):
    if not re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", v, re.I):
        raise FormatError("storage ID '%s' contains illegal characters\n" % v)


def fmt_node(v, key):
    if not re.fullmatch(r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?", v):
        raise FormatError("value does not look like a valid node name\n")


TAG_RE = re.compile(r"[a-z0-9_][a-z0-9_\-+.]*", re.I)


def fmt_tag_list(v, key):
    for t in split_list(v):
        if not TAG_RE.fullmatch(t):
            raise FormatError("invalid characters in tag\n")


def unique_tags(v):
    """GuestHelpers::get_unique_tags with the default tag-style: lower-case,
    sorted, de-duplicated, ';'-joined."""
    tags = sorted(set(t.lower() for t in split_list(v)))
    return ";".join(tags)


SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT])?$")


def parse_size(s):
    """'8G' -> bytes (PVE::JSONSchema::parse_size); None if invalid."""
    m = SIZE_RE.match(str(s))
    if not m:
        return None
    n = float(m.group(1))
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, None: 1}[m.group(2)]
    return int(n * mult)


def format_size(nbytes):
    """bytes -> the 'size=' form PVE prints (largest exact unit)."""
    for suffix, mult in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if nbytes % mult == 0 and nbytes >= mult:
            return "%d%s" % (nbytes // mult, suffix)
    return str(nbytes)


# --------------------------------------------------------------------------
# Property strings (PVE::JSONSchema parse_property_string / print_...)

BOOL = {"type": "boolean"}
STR = {"type": "string"}
INT = {"type": "integer"}

NET_DESC = {
    "default_key": None,
    "keys": {
        "name": {"type": "string", "required": True},
        "bridge": STR, "hwaddr": STR, "ip": STR, "ip6": STR, "gw": STR,
        "gw6": STR, "firewall": BOOL, "link_down": BOOL, "mtu": INT,
        "rate": {"type": "number"}, "tag": INT, "trunks": STR,
        "type": {"type": "string", "enum": ["veth"]},
        "host-managed": BOOL,
    },
}
_MP_KEYS = {
    "volume": {"type": "string", "required": True},
    "mp": {"type": "string", "required": True},
    "acl": BOOL, "backup": BOOL, "quota": BOOL, "replicate": BOOL, "ro": BOOL,
    "shared": BOOL, "size": {"type": "string", "size": True},
    "mountoptions": STR, "keepattrs": BOOL,
}
MP_DESC = {"default_key": "volume", "keys": _MP_KEYS}
ROOTFS_DESC = {"default_key": "volume",
               "keys": {k: v for k, v in _MP_KEYS.items() if k not in ("mp", "backup", "shared")}}
UNUSED_DESC = {"default_key": "volume", "keys": {"volume": {"type": "string", "required": True}}}
FEATURES_DESC = {
    "default_key": None,
    "keys": {"nesting": BOOL, "keyctl": BOOL, "fuse": BOOL, "mknod": BOOL,
             "force_rw_sys": BOOL, "mount": STR},
}
STARTUP_DESC = {
    "default_key": "order",
    "keys": {"order": INT, "up": INT, "down": INT},
}
DEV_DESC = {
    "default_key": "path",
    "keys": {"path": STR, "mode": STR, "uid": INT, "gid": INT, "deny-write": BOOL},
}


def parse_prop_string(value, desc, key="value"):
    """Returns an ordered dict.  Raises FormatError with PVE-like text."""
    res = {}
    errors = []
    for part in value.split(","):
        if part == "":
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        else:
            if not desc["default_key"]:
                raise FormatError("value without key, but schema does not define a default key\n")
            k, v = desc["default_key"], part
        if k in res:
            raise FormatError("duplicate key in comma-separated list property: %s\n" % k)
        spec = desc["keys"].get(k)
        if spec is None:
            errors.append("%s.%s: property is not defined in schema and the schema does "
                          "not allow additional properties" % (key, k))
            res[k] = v
            continue
        ok, nv = _check_type(spec.get("type", "string"), v)
        if not ok:
            errors.append("%s.%s: %s" % (key, k, nv))
            continue
        if "enum" in spec and nv not in spec["enum"]:
            errors.append("%s.%s: value '%s' does not have a value in the enumeration '%s'"
                          % (key, k, nv, ", ".join(spec["enum"])))
            continue
        if spec.get("size") and parse_size(nv) is None:
            errors.append("%s.%s: invalid format - invalid size\n" % (key, k))
            continue
        res[k] = v
    for k, spec in desc["keys"].items():
        if spec.get("required") and k not in res:
            errors.append("%s.%s: property is missing and it is not optional" % (key, k))
    if errors:
        raise FormatError("format error\n" + "".join(e if e.endswith("\n") else e + "\n"
                                                     for e in errors))
    return res


def print_prop_string(d, desc):
    """Required keys (default key first, bare), then the rest sorted."""
    parts = []
    dk = desc.get("default_key")
    keys = list(d.keys())
    req = [k for k in desc["keys"] if desc["keys"][k].get("required") and k in d]
    if dk and dk in req:
        req.remove(dk)
        req.insert(0, dk)
    for k in req:
        if k == dk:
            parts.append(str(d[k]))
        else:
            parts.append("%s=%s" % (k, d[k]))
    for k in sorted(x for x in keys if x not in req):
        if k == dk:
            parts.insert(0, str(d[k]))
        else:
            parts.append("%s=%s" % (k, d[k]))
    return ",".join(parts)


def make_prop_format(desc):
    def check(v, key):
        parse_prop_string(v, desc, key)
    return check


def classify_mountpoint(volume):
    if volume.startswith("/dev/"):
        return "device"
    if volume.startswith("/"):
        return "bind"
    return "volume"


NEW_DISK_RE = re.compile(r"^(?:([A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]):)?(\d+(?:\.\d+)?)$")
