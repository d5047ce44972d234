# shellcheck shell=sh
# shellcheck disable=SC2154 # me (the applying account) comes from the prelude
# Ops of the apply script (`apply::script`) that are more than a line or two: each a function
# whose values are its positional arguments (and, for data, its stdin), calling the prelude's
# `fail`, `nolink`, `trusted` and `site_digest`.

# op_venv PYTHON VENV: (re)create VENV from PYTHON. Only a directory wsgictl made is ever
# removed: it carries `.wsgictl-venv` (or, from earlier versions, `.wsgictl-requirements`).
op_venv() {
  nolink "$2"
  trusted "$1" venv
  if [ -e "$2" ]; then
    if [ -e "$2/.wsgictl-venv" ] || [ -e "$2/.wsgictl-requirements" ]; then
      rm -rf "$2" || fail venv
    else
      fail venv "$2 exists but wsgictl did not create it (no .wsgictl-venv inside), so it is not removed: move it away, or give the app another venv path"
    fi
  fi
  out=$("$1" -m venv "$2" 2>&1 </dev/null) || fail venv "$out"
  : > "$2/.wsgictl-venv" || fail venv
}

# op_pip VENV REQUIREMENTS_SHA256 CACHE FORCE < REQUIREMENTS(base64): install into VENV
# (FORCE=1: --force-reinstall) through pip's download cache CACHE (made 0700), then write the
# marker: what was installed, and the digest of site-packages right after.
op_pip() {
  trusted "$1/bin/pip" pip
  req=$(mktemp) || fail pip
  base64 -d > "$req" || { rm -f "$req"; fail pip; }
  (umask 077; mkdir -p "$3") || { rm -f "$req"; fail pip; }
  force=
  [ "$4" = 1 ] && force=--force-reinstall
  # shellcheck disable=SC2086 # $force: no word, or one
  out=$(PIP_CACHE_DIR=$3 "$1/bin/pip" install --disable-pip-version-check --no-input $force -r "$req" 2>&1 </dev/null) || { rm -f "$req"; fail pip "$out"; }
  rm -f "$req"
  printf '%s\ninstalled=%s\n' "$2" "$(site_digest "$1")" > "$1/.wsgictl-requirements" || fail pip
}

# op_release DIR CURRENT GROUP OWNER FROM [BASE...] < RECORD(base64): make release DIR (never
# the one CURRENT points at) with its code and static directories (OWNER is USER:GROUP) and
# its record. FROM says what it starts from, hard-linked:
#   release BASE_DIR        the code, static files, `.wsgi` and env file of another release;
#   legacy SRC STATIC_DIR   a host deployed before releases (its code and static directory);
#   adopted STATIC_DIR      a static directory in place (copied where it cannot be linked);
#   none                    nothing.
op_release() {
  rel=$1
  nolink "$rel"
  if [ -e "$rel" ]; then
    [ "$(readlink -f "$2")" != "$(readlink -f "$rel")" ] || fail release "$rel is the running release"
    rm -rf "$rel" || fail release
  fi
  mkdir "$rel" && chmod 0755 "$rel" || fail release
  case $5 in
    release)
      cp -al "$6/src" "$rel/src" || fail release
      if [ -d "$6/static" ]; then cp -al "$6/static" "$rel/static" || fail release; fi
      for f in app.wsgi app.env; do if [ -f "$6/$f" ]; then ln "$6/$f" "$rel/$f" || fail release; fi; done
      ;;
    legacy)
      cp -al "$6" "$rel/src" || fail release
      if [ -d "$7" ] && [ ! -L "$7" ]; then cp -al "$7" "$rel/static" || fail release; fi
      ;;
    adopted)
      if [ -d "$6" ] && [ ! -L "$6" ]; then cp -al "$6" "$rel/static" 2>/dev/null || { rm -rf "$rel/static"; cp -a "$6" "$rel/static"; } || fail release; fi
      ;;
  esac
  mkdir -p "$rel/src" "$rel/static" || fail release
  chown "$me:$3" "$rel/src" && chmod 0750 "$rel/src" || fail release
  chown "$4" "$rel/static" && chmod 0755 "$rel/static" || fail release
  base64 -d > "$rel/.wsgictl-release" || fail release
  chmod 0640 "$rel/.wsgictl-release" || fail release
}

# op_manage USER NAME APP RECORD SRC ENV_FILE SETTINGS PYTHON_PATH PYTHON [STATIC_ROOT]: run
# `manage.py NAME --noinput` as USER in SRC with the app's environment (ENV_FILE) and the
# venv's PYTHON; with STATIC_ROOT, collectstatic into it: STATIC_ROOT is set once the settings
# are read and before Django is set up (an app's `ready()` may already open the static
# storage). The migrations it applied are added to RECORD (when not empty): a rollback past
# them is refused. Then the owed step APP.NAME is paid.
op_manage() {
  what="manage.py $2"
  # The values reach the account's shell as its arguments; the env file may set anything,
  # so ours are read into names of our own first.
  run='cd "$1" && set -a && . "$2" && set +a && wsgictl_m=$3 wsgictl_p=$4 wsgictl_py=$5 && shift 5 && DJANGO_SETTINGS_MODULE=$wsgictl_m PYTHONPATH=$wsgictl_p exec "$wsgictl_py" "$@"'
  if [ $# -ge 10 ]; then
    out=$(as_user "$1" sh -c "$run" sh "$5" "$6" "$7" "$8" "$9" -c 'import sys, django
from django.conf import settings
settings.STATIC_ROOT = sys.argv[1]
django.setup()
from django.core.management import call_command
call_command("collectstatic", interactive=False)
' "${10}" 2>&1 </dev/null) || fail "$what" "$out"
  else
    out=$(as_user "$1" sh -c "$run" sh "$5" "$6" "$7" "$8" "$9" manage.py "$2" --noinput 2>&1 </dev/null) || fail "$what" "$out"
  fi
  if [ -n "$4" ]; then
    printf '%s\n' "$out" | sed -n 's/^ *Applying \([^ ]*\)\.\.\..*/migration=\1/p' >> "$4" || fail "$what"
  fi
  paid "$3.$2"
}

# op_certificate LINEAGE EMAIL DIRECTORY WEBROOT HOOK RENEW TRUST READY_URL NAME...: certbot's
# certificate for every NAME, answered through WEBROOT (--webroot), from the ACME server at
# DIRECTORY (trusting the CA bundle TRUST when not empty), installed by the deploy hook HOOK;
# RENEW=1: --force-renewal. Apache is first asked for a file put in the challenge directory
# (READY_URL, on the host itself, by the first name) until it serves it: a vhost reloaded a
# moment ago may not answer yet.
op_certificate() {
  lineage=$1 email=$2 directory=$3 webroot=$4 hook=$5 renew=$6 trust=$7 ready_url=$8
  shift 8
  command -v certbot >/dev/null 2>&1 || fail certificate 'certbot is not installed on the host: install it (apt-get install certbot / dnf install certbot), or keep `packages #true`'
  trusted "$(command -v certbot)" certificate
  nolink "$webroot"
  challenge=$webroot/.well-known/acme-challenge
  ready=$challenge/${ready_url##*/}
  mkdir -p "$challenge" && echo ok > "$ready" || fail certificate
  if command -v curl >/dev/null 2>&1; then
    k=0
    while [ $k -lt 50 ]; do
      [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -H "Host: $1" "$ready_url" </dev/null 2>/dev/null)" = 200 ] && break
      k=$((k + 1)); sleep 0.2
    done
  else sleep 2; fi
  rm -f "$ready"
  for d in "$@"; do set -- "$@" -d "$d"; shift; done
  [ "$renew" != 1 ] || set -- "$@" --force-renewal
  set -- certbot certonly --non-interactive --agree-tos --no-eff-email -m "$email" --server "$directory" --webroot -w "$webroot" --cert-name "$lineage" --deploy-hook "$hook" "$@"
  [ -z "$trust" ] || set -- env "REQUESTS_CA_BUNDLE=$trust" "$@"
  out=$("$@" 2>&1 9>&- </dev/null) || fail certificate "$out"
}
