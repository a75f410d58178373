# shellcheck shell=bash
# Shared by register-linux.sh and deregister-linux.sh: the build puts this text in place of
# each script's line "# @include lib/common.sh" (documents/index.ts joinScript). It is never run
# on its own; shellcheck checks it inside each joined script. The including script sets J
# (register or deregister) and defines fail(), the worker's way out on any error.
#
# Agent facts used here (github aws/amazon-ssm-agent): the vault is Vault/Store/<key> under the
# agent's data dir (agent/managedInstances/vault/fsvault/fsvault.go), key RegistrationKey, JSON
# of registration/instance_info.go (instanceID, region, privateKey). The identity the running
# agent chose is runtimeconfig/identity_config.json (common/runtimeconfig/identity_runtimeconfig.go:
# IdentityType, InstanceId), written at each start (core/agent.go, core/app/runtimeconfiginit).

# The hybrid agent may write the central account's credentials into root's shared credentials
# file. Every AWS CLI call here must act as the instance's own role, so the file is ignored and
# the CLI falls through to the instance profile.
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN

MODE=check
if [[ ${1:-} = --worker ]]; then MODE=worker; fi
HUB=${SSM_HUB_REGION:-}
PFX=${SSM_HUB_RESERVED_TAG_PREFIX:-}
MI_TAG=${SSM_HUB_MANAGED_INSTANCE_ID_TAG:-managedinstanceid}
IMDS=${SSM_HUB_IMDS_ENDPOINT:-http://169.254.169.254}
AS=${SSM_HUB_AGENT_STATE_DIR:-/var/lib/amazon/ssm}
REG=$AS/registration
VLT=$AS/Vault/Store/RegistrationKey
IDC=$AS/runtimeconfig/identity_config.json
STATE=${SSM_HUB_STATE_DIR:-/var/lib/ssm-hub}
LOG=${SSM_HUB_LOG_FILE:-/var/log/ssm-hub-$J.log}
SNAP=${SSM_HUB_SNAP_ROOT:-/snap}
DELAY=${SSM_HUB_WORKER_DELAY:-10}
WAIT=${SSM_HUB_IDENTITY_WAIT:-180}
ERR_TAG=${PFX}registration-error
OPT_TAG=${PFX}registration-opt-out
# The instance ID the register worker last registered: a copied image carries the agent's
# registration but not a matching marker, and must register as a node of its own.
MARK=$STATE/registered-instance
# Seconds a deregistration worker waits for a register worker holding the lock (8 minutes: longer
# than a register worker's run, shorter than the Windows task's 15-minute limit).
LW=${SSM_HUB_LOCK_WAIT:-480}
RE='^[a-z]{2}(-[a-z]+)+-[0-9]+$'
# IID/IREG: this instance and its Region; BIN/SVC: the agent; G: the guard's PID; N/NR: a node.
IID='' IREG='' BIN='' SVC='' G='' N='' NR=''

log() {
  local l
  l="$(date -u +%FT%TZ) [$MODE] $*"
  echo "$l"
  if [[ $MODE = worker ]]; then echo "$l" >>"$LOG" 2>/dev/null || true; fi
}

# The check fails before anything changed: clear message, non-zero exit. The worker records the
# failure (and undoes a half-done change) through fail().
die() {
  if [[ $MODE = worker ]]; then fail "$2"; fi
  log "ERROR: $2; nothing was changed on this instance"
  exit "$1"
}

validate() {
  [[ $HUB =~ $RE ]] || die 2 "SSM_HUB_REGION (document parameter HubRegion) must be a Region name, got '$HUB'"
  [[ $PFX ]] || die 2 "SSM_HUB_RESERVED_TAG_PREFIX is not set"
  [[ $DELAY$WAIT$LW =~ ^[0-9]+$ ]] || die 2 "SSM_HUB_WORKER_DELAY, SSM_HUB_IDENTITY_WAIT and SSM_HUB_LOCK_WAIT must be whole seconds"
  command -v curl >/dev/null || die 3 "curl is not installed; it is needed to read the instance metadata"
  command -v aws >/dev/null || die 3 "the AWS CLI (aws) is not installed or not on PATH"
  command -v flock >/dev/null || die 3 "flock (util-linux) is not installed"
}

# IMDS is link-local: never through the agent's proxy.
imds() { curl -sf --noproxy '*' --connect-timeout 2 --max-time 5 "$@"; }

read_imds() {
  local t
  t=$(imds -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/latest/api/token") ||
    die 4 "cannot reach the instance metadata service (IMDSv2) at $IMDS"
  t="X-aws-ec2-metadata-token: $t"
  if ! { IID=$(imds -H "$t" "$IMDS/latest/meta-data/instance-id") && IREG=$(imds -H "$t" "$IMDS/latest/meta-data/placement/region"); }; then
    die 4 "cannot read the instance ID and Region from the instance metadata service"
  fi
  [[ $IID =~ ^i-[0-9a-f]{8,17}$ && $IREG =~ $RE ]] || die 4 "the instance metadata returned an unexpected instance ID or Region"
}

# Finds the agent binary and its service: the Ubuntu snap, else the deb/rpm install.
find_agent() {
  BIN=$SNAP/amazon-ssm-agent/current/amazon-ssm-agent
  SVC=snap.amazon-ssm-agent.amazon-ssm-agent.service
  if [[ ! -x $BIN ]]; then
    SVC=amazon-ssm-agent.service
    BIN=$(command -v amazon-ssm-agent) || BIN=/usr/bin/amazon-ssm-agent
  fi
  [[ -x $BIN ]] || die 3 "the SSM Agent (amazon-ssm-agent) is not installed"
}

# Stops or starts the agent: systemd, else Upstart (Amazon Linux 1 era hosts). A systemd stop is
# bounded by the unit's TimeoutStopSec, after which systemd kills the agent.
ctl() {
  if command -v systemctl >/dev/null; then systemctl "$1" "$SVC"; else initctl "$1" amazon-ssm-agent; fi
}

# The agent is running (systemd's view; Upstart hosts are taken as running).
up() {
  if command -v systemctl >/dev/null; then systemctl -q is-active "$SVC"; fi
}

# The agent's proxy: https_proxy, http_proxy, no_proxy (any case; Go's ProxyFromEnvironment reads
# them) from Environment= of its unit and drop-ins (systemctl show merges them; the snap's service
# too). A variable already set (Run Command passes the agent's environment) is kept.
proxy() {
  local e n a=()
  command -v systemctl >/dev/null || return 0
  read -ra a < <(systemctl show -p Environment "$SVC" 2>/dev/null) || true
  for e in ${a[@]+"${a[@]#Environment=}"}; do
    n=${e%%=*}
    case ${n,,} in http_proxy | https_proxy | no_proxy) [[ ${!n+x} ]] || export "${e?}" ;; esac
  done
}

# Prints string field $1 of the agent's JSON file $2 (the agent writes these itself).
fld() {
  [[ ! -s $2 ]] || sed -nE "/\"$1\"/{s/.*\"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\".*/\1/p;q}" "$2"
}

# N, NR: the OnPrem node in the vault and its Region; N="" when there is none (-register -clear
# stores empty fields: core/agent_parser.go clearRegistration; HasManagedInstancesCredentials in
# registration/instance_info.go wants the ID, the Region and the private key).
node() {
  N=$(fld instanceID "$VLT")
  NR=$(fld region "$VLT")
  [[ $N =~ ^mi-[0-9a-f]{17}$ && $(fld privateKey "$VLT") ]] || N=
}

# N: the hub node the agent runs as, or "". Never the registration file: -register -clear leaves
# it behind. The vault must hold a node in the hub Region and the agent must have chosen it.
hub() {
  node
  [[ $N && $NR = "$HUB" && $(fld IdentityType "$IDC") = OnPrem && $(fld InstanceId "$IDC") = "$N" ]] || N=
}

# Writes tag Key=...,Value=... on this instance (ec2:CreateTags, tied to the caller).
tags() {
  aws ec2 create-tags --region "$IREG" --resources "$IID" --tags "$1" >/dev/null 2>&1
}

# Prints the value of tag $1 of this instance: None when it has no such tag, "" when cleared.
tv() {
  aws ec2 describe-tags --region "$IREG" --filters "Name=resource-id,Values=$IID" "Name=key,Values=$1" \
    --query 'Tags[0].Value' --output text 2>/dev/null
}

# Clears tag $1 by writing it empty (Key=k,Value=: the CLI's shorthand parser gives "" for a value
# at the end of its input, awscli/shorthand.py; EC2 keeps an empty value, CreateTags Tag.N). The
# role has no ec2:DeleteTags: no IAM key ties it to the caller's instance. An empty tag counts as
# none everywhere; one the instance does not carry is not added (unless unreadable).
clr() {
  local v
  v=$(tv "$1") || v=x
  [[ $v = None || ! $v ]] || tags "Key=$1,Value="
}

err_tag() {
  if [[ $IREG ]] && tags "Key=$ERR_TAG,Value=$(printf '%s' "$(date -u +%FT%TZ) $J: $1" | tr -c 'A-Za-z0-9 _.:/+@-' ' ' | tr -s ' ' | cut -c1-256)"; then
    log "recorded the failure in tag $ERR_TAG"
  else
    log "could not write tag $ERR_TAG"
  fi
}

# Detaches the worker and exits 0: the agent running this command restarts and changes identity.
# A transient systemd unit outlives that restart; --collect (systemd 236+) is retried without for
# Amazon Linux 2's systemd 219; without systemd: a new session, immune to SIGHUP. Each run has its
# own unit name and worker file (copied beside it and renamed into place, never over a running
# worker); the unit gets the SSM_HUB_* settings and the agent's proxy.
spawn() {
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  local u w b n a=()
  u=ssm-hub-$J-$(date +%s)-$$-$RANDOM
  w=$STATE/$u.sh
  cp "$0" "$w.t"
  mv -f "$w.t" "$w"
  b=$(command -v bash)
  for n in ${!SSM_HUB_@} PATH {http,https,no}_proxy {HTTP,HTTPS,NO}_PROXY; do
    [[ -z ${!n+x} ]] || a+=("--setenv=$n=${!n}")
  done
  if command -v systemd-run >/dev/null &&
    { systemd-run --unit "$u" --collect --quiet "${a[@]}" "$b" "$w" --worker ||
      systemd-run --unit "$u" --quiet "${a[@]}" "$b" "$w" --worker; }; then
    n="systemd unit $u"
  else
    setsid nohup "$b" "$w" --worker </dev/null >/dev/null 2>&1 &
    n="background process $!"
  fi
  log "$1 scheduled as $n; progress is logged to $LOG"
  exit 0
}

# Started before the agent is stopped: if the worker dies without finishing (SIGKILL, the OOM
# killer; systemd then sends SIGTERM to the rest of the unit, which the guard ignores), the guard
# runs the including script's rescue(): the register worker's undoes an unfinished registration,
# and both start the agent. It keeps the lock until then (its sleep does not: it outlives a
# SIGKILL). The worker ends it on its way out, unless the agent is still not running: then the
# guard tries once more.
guard() {
  (
    trap - ERR
    trap '' TERM INT HUP
    set +e
    while kill -0 $$; do sleep 1 9>&-; done
    rescue
  ) </dev/null >/dev/null 2>&1 &
  G=$!
}

# The worker's start: traps, the instance (so a failure can be recorded in its error tag), then
# the lock, an flock on worker.lck shared by both workers. The kernel releases it however the
# worker ends, so it is never stale; the owner line is written once it is held. A lock held by
# another worker goes to the including script's wlock(). Any error or SIGTERM/INT/HUP ends in
# fail(), which leaves the agent running; before the lock it only reports: the state files and the
# agent belong to the worker holding the lock.
wstart() {
  mkdir -p "${LOG%/*}" "$STATE"
  # On any way out, the lock's or not: the worker's own file goes, and the guard is ended while the
  # agent runs (else it starts the agent).
  trap '[[ -z $G ]] || ! up || kill -9 "$G" 2>/dev/null; [[ $0 != "$STATE"/ssm-hub-* ]] || rm -f "$0"' EXIT
  set -o errtrace
  trap 'fail "unexpected error at line $LINENO"' ERR
  trap 'fail "stopped by SIGTERM"' TERM
  trap 'fail "stopped by SIGINT"' INT
  trap 'fail "stopped by SIGHUP"' HUP
  validate
  log "worker started"
  find_agent
  proxy
  read_imds
  exec 9>>"$STATE/worker.lck"
  flock -n 9 || wlock
  echo "$$ $J $(date -u +%FT%TZ)" >"$STATE/worker.lck"
}
