# Run by wsgictl import (src/import/wsgi.rs) with the host's python3: reads a .wsgi with ast and never runs it.
import ast, json, os, sys
path = sys.argv[1]
out = {"settings": None, "settings_how": None, "sys_path": [], "site_dirs": [], "activate_this": [],
       "application_from": None, "dynamic": [], "error": None, "env": [], "projects": [],
       "application_built": None}
try:
    raw = open(path, "rb").read()
    text = raw.decode("utf-8", "replace")
    tree = ast.parse(raw, path)
except (OSError, SyntaxError, ValueError) as e:
    line = getattr(e, "lineno", None)
    out["error"] = ("line %s: " % line if line else "") + (getattr(e, "msg", None) or str(e))
    print("wsgi=" + json.dumps(out)); sys.exit(0)
SAFE_CALLS = {"os.path.join", "os.path.dirname", "os.path.abspath", "os.path.realpath", "os.path.normpath", "os.path.basename"}
def dotted(n):
    if isinstance(n, ast.Name): return n.id
    if isinstance(n, ast.Attribute):
        d = dotted(n.value)
        return d and d + "." + n.attr
    return None
def safe(n):
    """Only constants, __file__, + of those, and os.path calls: nothing that could act."""
    if isinstance(n, ast.Constant): return isinstance(n.value, str)
    if isinstance(n, ast.Name): return n.id == "__file__"
    if isinstance(n, ast.BinOp): return isinstance(n.op, ast.Add) and safe(n.left) and safe(n.right)
    if isinstance(n, ast.Call):
        return dotted(n.func) in SAFE_CALLS and not n.keywords and all(safe(a) for a in n.args)
    return False
def value(n, what):
    if isinstance(n, ast.Constant) and isinstance(n.value, str): return n.value
    seg = ast.get_source_segment(text, n)
    evaluated = None
    if safe(n):
        try: evaluated = eval(compile(ast.Expression(n), path, "eval"), {"__builtins__": {}, "os": os, "__file__": path})
        except Exception: evaluated = None
    out["dynamic"].append({"what": what, "line": n.lineno, "source": seg, "value": evaluated})
    return evaluated
def key(sub):
    s = sub.slice
    return s.value if isinstance(s, ast.Constant) else None
for node in ast.walk(tree):
    if isinstance(node, ast.Assign):
        for t in node.targets:
            if isinstance(t, ast.Subscript) and dotted(t.value) == "os.environ" and key(t) == "DJANGO_SETTINGS_MODULE":
                out["settings"] = value(node.value, "DJANGO_SETTINGS_MODULE"); out["settings_how"] = "assigned"
            elif isinstance(t, ast.Subscript) and dotted(t.value) == "os.environ" and isinstance(key(t), str):
                if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                    out["env"].append([key(t), node.value.value, node.lineno, "assigned"])
    if isinstance(node, ast.Call):
        f = dotted(node.func); a = node.args
        if f == "os.environ.setdefault" and len(a) == 2 and isinstance(a[0], ast.Constant) and a[0].value == "DJANGO_SETTINGS_MODULE":
            if out["settings_how"] != "assigned":
                out["settings"] = value(a[1], "DJANGO_SETTINGS_MODULE"); out["settings_how"] = "setdefault"
        elif f == "os.environ.setdefault" and len(a) == 2 and isinstance(a[0], ast.Constant) and isinstance(a[0].value, str):
            if isinstance(a[1], ast.Constant) and isinstance(a[1].value, str):
                out["env"].append([a[0].value, a[1].value, node.lineno, "setdefault"])
        elif f == "sys.path.insert" and len(a) == 2:
            out["sys_path"].append(value(a[1], "sys.path"))
        elif f == "sys.path.append" and len(a) == 1:
            out["sys_path"].append(value(a[0], "sys.path"))
        elif f == "site.addsitedir" and len(a) >= 1:
            out["site_dirs"].append(value(a[0], "site.addsitedir"))
        elif f in ("exec", "execfile") and "activate_this" in (ast.get_source_segment(text, node) or ""):
            out["activate_this"].append(node.lineno)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        mod = node.module if isinstance(node, ast.ImportFrom) else None
        if mod and mod.endswith(".wsgi") and any(n.name == "application" for n in node.names):
            out["application_from"] = mod
for n in ast.walk(tree):
    if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "activate_this" for t in n.targets):
        out["activate_this"].append(n.lineno)
out["activate_this"] = sorted(set(out["activate_this"]))
# An `application` built otherwise than by Django's own handler (a middleware around it, a
# function of its own): wsgictl's .wsgi would not carry it.
PLAIN = {"get_wsgi_application", "django.core.wsgi.get_wsgi_application", "WSGIHandler",
         "django.core.handlers.wsgi.WSGIHandler", "wsgi.get_wsgi_application"}
for n in tree.body:
    if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "application" for t in n.targets):
        v = n.value
        if not (isinstance(v, ast.Call) and dotted(v.func) in PLAIN):
            out["application_built"] = {"line": n.lineno, "source": ast.get_source_segment(text, v)}
    elif isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == "application":
        out["application_built"] = {"line": n.lineno, "source": "def application(...)"}
# Directories it puts on the module path that hold a Django project.
for p in out["sys_path"] + [os.path.dirname(os.path.abspath(path))]:
    if p and os.path.isfile(os.path.join(p, "manage.py")) and p not in out["projects"]:
        out["projects"].append(p)
print("wsgi=" + json.dumps(out))
