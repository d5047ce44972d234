# Run by wsgictl (src/settings_check.rs) as the daemon user: reads Django's settings, never a credential.
import json, os, shlex, sys
e = json.loads(sys.argv[1])
try:
    with open(e["env_file"], encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                k, _, v = line.partition("=")
                os.environ[k] = "".join(shlex.split(v))
except OSError:
    pass
os.environ["DJANGO_SETTINGS_MODULE"] = e["settings"]
try:
    import django
    from django.conf import settings as s
    s.INSTALLED_APPS
except BaseException as x:
    last = (str(x).strip().splitlines() or [""])[-1]
    print("settings=" + json.dumps({"error": "%s: %s" % (type(x).__name__, last)}))
    sys.exit(0)
def path(v):
    return os.path.normpath(os.path.abspath(str(v))) if v not in (None, "") else None
def inside(p, d):
    return p is not None and d is not None and (p == d or p.startswith(d.rstrip("/") + "/"))
r = {"django": django.get_version(), "wsgi_application": getattr(s, "WSGI_APPLICATION", None),
     "static_root": path(s.STATIC_ROOT), "media_root": path(s.MEDIA_ROOT), "debug": bool(s.DEBUG),
     "allowed_hosts": [str(h) for h in s.ALLOWED_HOSTS], "secure_ssl_redirect": bool(s.SECURE_SSL_REDIRECT),
     "csrf_trusted_origins": [str(o) for o in s.CSRF_TRUSTED_ORIGINS],
     "databases": [], "problems": []}
def problem(code, severity, value=None, want=None):
    r["problems"].append({"code": code, "severity": severity, "value": value, "want": want})
for alias, db in (s.DATABASES or {}).items():
    engine = str(db.get("ENGINE", ""))
    d = {"alias": alias, "engine": engine}
    if "sqlite" in engine:
        name = str(db.get("NAME") or "")
        d["name"] = name if name in ("", ":memory:") or name.startswith("file:") else path(name)
        if inside(d["name"], e.get("code") or e["src"]):
            problem("sqlite-in-source", "error", d["name"], e["data"])
        elif any(inside(d["name"], x) for x in e["served"]):
            problem("sqlite-served", "error", d["name"], e["data"])
    r["databases"].append(d)
if e["collectstatic"] and r["static_root"] != e["static_dir"]:
    problem("static-root", "error", r["static_root"], e["static_dir"])
if e["media_dir"] and r["media_root"] != e["media_dir"]:
    problem("media-root", "error", r["media_root"], e["media_dir"])
header = list(s.SECURE_PROXY_SSL_HEADER) if s.SECURE_PROXY_SSL_HEADER else None
# SECURE_SSL_REDIRECT acts only through SecurityMiddleware.
redirect = bool(s.SECURE_SSL_REDIRECT) and "django.middleware.security.SecurityMiddleware" in list(s.MIDDLEWARE or [])
if redirect and not e["tls"] and header is None:
    problem("ssl-redirect-without-tls", "error")
if e["tls"] and header is not None and header != ["HTTP_X_FORWARDED_PROTO", "https"]:
    problem("proxy-header", "error" if redirect else "warning", "%s=%s" % tuple(header[:2]))
if e["tls"] and django.VERSION >= (4, 0):
    bare = [str(o) for o in s.CSRF_TRUSTED_ORIGINS if "://" not in str(o)]
    if bare:
        problem("csrf-origin-scheme", "warning", ", ".join(bare))
print("settings=" + json.dumps(r))
