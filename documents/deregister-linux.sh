#!/usr/bin/env bash
# Returns this EC2 instance to its own account's Systems Manager: the way back from the hub.
#
#   (default)  the check, run by Run Command: when the agent is registered with the hub Region,
#              schedule a detached worker and exit 0 at once (the agent restarts and changes
#              identity, so the result could never be reported otherwise).
#   --worker   first set the opt-out tag <prefix>registration-opt-out=true (so the hourly
#              registration association does not undo the way back; when it cannot be set the
#              worker stops there, leaving the registration and the agent as they were), then stop
#              the agent, clear the on-prem registration, start the agent (it comes back under the
#              instance profile), remove the managedinstanceid and error tags.
#   An instance that is not registered at all is opted out too, and loses a stale mi- tag.
#
# Inputs (environment; the SSM document exports them):
#   SSM_HUB_REGION                   hub Region; a registration to any other Region is left alone
#   SSM_HUB_RESERVED_TAG_PREFIX      prefix of the tags <prefix>registration-error and
#                                    <prefix>registration-opt-out
#   SSM_HUB_MANAGED_INSTANCE_ID_TAG  EC2 tag key that records the mi- ID (default managedinstanceid)
# Overridable: SSM_HUB_IMDS_ENDPOINT, SSM_HUB_AGENT_STATE_DIR, SSM_HUB_STATE_DIR,
#   SSM_HUB_LOG_FILE (/var/log/ssm-hub-deregister.log), SSM_HUB_SNAP_ROOT, SSM_HUB_WORKER_DELAY,
#   SSM_HUB_BOOT_ID_FILE (/proc/sys/kernel/random/boot_id).
set -euo pipefail
umask 077

MODE=check
if [ "${1:-}" = "--worker" ]; then MODE=worker; fi

HUB_REGION="${SSM_HUB_REGION:-}"
TAG_PREFIX="${SSM_HUB_RESERVED_TAG_PREFIX:-}"
MI_TAG="${SSM_HUB_MANAGED_INSTANCE_ID_TAG:-managedinstanceid}"
IMDS="${SSM_HUB_IMDS_ENDPOINT:-http://169.254.169.254}"
AGENT_STATE_DIR="${SSM_HUB_AGENT_STATE_DIR:-/var/lib/amazon/ssm}"
STATE_DIR="${SSM_HUB_STATE_DIR:-/var/lib/ssm-hub}"
LOG_FILE="${SSM_HUB_LOG_FILE:-/var/log/ssm-hub-deregister.log}"
SNAP_ROOT="${SSM_HUB_SNAP_ROOT:-/snap}"
WORKER_DELAY="${SSM_HUB_WORKER_DELAY:-10}"
REGISTRATION_FILE="$AGENT_STATE_DIR/registration"
ERROR_TAG="${TAG_PREFIX}registration-error"
OPT_OUT_TAG="${TAG_PREFIX}registration-opt-out"

# @include lib/common.sh

INSTANCE_ID=""
INSTANCE_REGION=""
AGENT_BIN=""
AGENT_SERVICE=""
AGENT_STOPPED=""

log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) [$MODE] $*"
  printf '%s\n' "$line"
  if [ "$MODE" = worker ]; then printf '%s\n' "$line" >>"$LOG_FILE" 2>/dev/null || true; fi
}

die() {
  local status="$1"
  shift
  if [ "$MODE" = worker ]; then fail "$*"; fi
  log "ERROR: $*"
  log "nothing was changed on this instance"
  exit "$status"
}

validate_inputs() {
  [[ "$HUB_REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] ||
    die 2 "SSM_HUB_REGION (document parameter HubRegion) must be a Region name such as eu-west-1, got '${HUB_REGION}'"
  [ -n "$TAG_PREFIX" ] || die 2 "SSM_HUB_RESERVED_TAG_PREFIX is not set"
  [[ "$WORKER_DELAY" =~ ^[0-9]+$ ]] || die 2 "SSM_HUB_WORKER_DELAY must be a whole number of seconds"
}

require_tools() {
  command -v curl >/dev/null 2>&1 || die 3 "curl is not installed; it is needed to read the instance metadata (IMDSv2)"
  command -v aws >/dev/null 2>&1 ||
    die 3 "the AWS CLI (aws) is not installed or not on PATH; install AWS CLI v2 to update the instance's tags"
}

imds_get() {
  local token="$1" path="$2"
  curl -sS -f --connect-timeout 2 --max-time 5 -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/$path"
}

read_imds() {
  local token
  token="$(curl -sS -f --connect-timeout 2 --max-time 5 -X PUT \
    -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/latest/api/token" 2>/dev/null)" ||
    die 4 "cannot reach the instance metadata service (IMDSv2) at $IMDS"
  INSTANCE_ID="$(imds_get "$token" meta-data/instance-id 2>/dev/null)" ||
    die 4 "cannot read the instance ID from the instance metadata service"
  INSTANCE_REGION="$(imds_get "$token" meta-data/placement/region 2>/dev/null)" ||
    die 4 "cannot read the Region from the instance metadata service"
  [[ "$INSTANCE_ID" =~ ^i-[0-9a-f]{8,17}$ ]] || die 4 "the instance metadata returned an unexpected instance ID"
  [[ "$INSTANCE_REGION" =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die 4 "the instance metadata returned an unexpected Region"
}

find_agent() {
  if [ -x "$SNAP_ROOT/amazon-ssm-agent/current/amazon-ssm-agent" ]; then
    AGENT_BIN="$SNAP_ROOT/amazon-ssm-agent/current/amazon-ssm-agent"
    AGENT_SERVICE=snap.amazon-ssm-agent.amazon-ssm-agent.service
  elif AGENT_BIN="$(command -v amazon-ssm-agent 2>/dev/null)"; then
    AGENT_SERVICE=amazon-ssm-agent.service
  elif [ -x /usr/bin/amazon-ssm-agent ]; then
    AGENT_BIN=/usr/bin/amazon-ssm-agent
    AGENT_SERVICE=amazon-ssm-agent.service
  else
    die 3 "the SSM Agent (amazon-ssm-agent) is not installed"
  fi
}

agent_ctl() {
  local action="$1"
  if command -v systemctl >/dev/null 2>&1; then
    systemctl "$action" "$AGENT_SERVICE"
  elif command -v initctl >/dev/null 2>&1; then
    initctl "$action" amazon-ssm-agent
  else
    log "no systemctl or initctl found to $action the agent"
    return 1
  fi
}

registration_field() {
  [ -s "$REGISTRATION_FILE" ] || return 0
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$REGISTRATION_FILE" | head -n 1
}

opt_out() {
  aws ec2 create-tags --region "$INSTANCE_REGION" --resources "$INSTANCE_ID" --tags "Key=$OPT_OUT_TAG,Value=true" >/dev/null 2>&1
}

remove_tag() {
  aws ec2 delete-tags --region "$INSTANCE_REGION" --resources "$INSTANCE_ID" --tags "Key=$1" >/dev/null 2>&1
}

tag_safe() {
  printf '%s' "$*" | tr -c 'A-Za-z0-9 _.:/+@-' ' ' | tr -s ' ' | cut -c1-256
}

check() {
  validate_inputs
  require_tools
  read_imds
  local mi region
  mi="$(registration_field ManagedInstanceID)"
  region="$(registration_field Region)"
  if [ -z "$mi" ]; then
    # Nothing to undo in the agent, but the way back must hold: opt out of the hourly
    # registration. A stale tag would still mislead the collector.
    opt_out || die 5 "cannot tag $INSTANCE_ID with $OPT_OUT_TAG=true (ec2:CreateTags)"
    remove_tag "$MI_TAG" || die 5 "cannot remove tag $MI_TAG from $INSTANCE_ID (ec2:DeleteTags)"
    log "not registered with any hub; opted out of hub registration (tag $OPT_OUT_TAG=true)"
    exit 0
  fi
  if [ "$region" != "$HUB_REGION" ]; then
    log "registered as $mi with Region '$region', not the hub Region $HUB_REGION; left alone"
    exit 0
  fi
  find_agent
  schedule_worker "$mi"
}

schedule_worker() {
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  local worker="$STATE_DIR/deregister-worker.sh" bash_bin unit name
  cp "$0" "$worker"
  chmod 700 "$worker"
  bash_bin="$(command -v bash)"
  unit="ssm-hub-deregister-$(date +%s)"
  local -a env_args=()
  for name in SSM_HUB_REGION SSM_HUB_RESERVED_TAG_PREFIX SSM_HUB_MANAGED_INSTANCE_ID_TAG SSM_HUB_IMDS_ENDPOINT \
    SSM_HUB_AGENT_STATE_DIR SSM_HUB_STATE_DIR SSM_HUB_LOG_FILE SSM_HUB_SNAP_ROOT SSM_HUB_WORKER_DELAY \
    SSM_HUB_BOOT_ID_FILE PATH; do
    if [ -n "${!name+x}" ]; then env_args+=("--setenv=$name=${!name}"); fi
  done
  # A transient systemd unit outlives the agent's restart; --collect (systemd 236+) is retried
  # without for Amazon Linux 2's systemd 219. Without systemd: a new session, immune to SIGHUP.
  if command -v systemd-run >/dev/null 2>&1 &&
    { systemd-run --unit "$unit" --collect --quiet ${env_args[@]+"${env_args[@]}"} "$bash_bin" "$worker" --worker ||
      systemd-run --unit "$unit" --quiet ${env_args[@]+"${env_args[@]}"} "$bash_bin" "$worker" --worker; }; then
    log "deregistration of $1 scheduled as systemd unit $unit; progress is logged to $LOG_FILE"
  else
    setsid nohup "$bash_bin" "$worker" --worker </dev/null >/dev/null 2>&1 &
    log "deregistration of $1 scheduled as background process $!; progress is logged to $LOG_FILE"
  fi
  exit 0
}

fail() {
  local reason="$1"
  trap - ERR
  set +e
  log "ERROR: $reason"
  # Only an agent this worker stopped is started again: before that, nothing was changed.
  if [ -n "$AGENT_STOPPED" ]; then
    agent_ctl start >/dev/null 2>&1 || log "could not start the agent"
  fi
  if [ -n "$INSTANCE_ID" ] && [ -n "$INSTANCE_REGION" ]; then
    aws ec2 create-tags --region "$INSTANCE_REGION" --resources "$INSTANCE_ID" \
      --tags "Key=$ERROR_TAG,Value=$(tag_safe "$(date -u +%Y-%m-%dT%H:%M:%SZ) deregistration: $reason")" >/dev/null 2>&1 ||
      log "could not write tag $ERROR_TAG"
  fi
  log "deregistration failed"
  exit 1
}

# Takes the worker lock, recording its owner: PID and boot ID. A lock whose owner is dead or from
# another boot was left by a killed worker (reboot, OOM kill) and would block every later run.
take_lock() {
  local lock="$STATE_DIR/worker.lock" boot pid="" owner_boot=""
  boot="$(cat "${SSM_HUB_BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}" 2>/dev/null)" || boot=""
  if ! mkdir "$lock" 2>/dev/null; then
    read -r pid owner_boot 2>/dev/null <"$lock/owner" || true
    if [[ "$owner_boot" = "$boot" && "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then return 1; fi
    log "removing a stale worker lock"
    rm -rf "$lock"
    mkdir "$lock" || return 1
  fi
  printf '%s %s\n' "$$" "$boot" >"$lock/owner"
}

worker() {
  mkdir -p "$(dirname "$LOG_FILE")"
  set -o errtrace
  trap 'fail "unexpected error at line $LINENO"' ERR
  validate_inputs
  log "worker started"
  if ! take_lock; then
    log "another worker is running; leaving it to finish"
    exit 0
  fi
  trap 'rm -rf "$STATE_DIR/worker.lock"' EXIT
  require_tools
  read_imds
  find_agent
  log "instance $INSTANCE_ID in $INSTANCE_REGION; agent $AGENT_BIN ($AGENT_SERVICE); was $(registration_field ManagedInstanceID)"
  sleep "$WORKER_DELAY"
  # First, before anything changes: once the registration is cleared, a missing opt-out tag would let
  # the hourly registration association register the instance again. Fails with nothing changed.
  opt_out || fail "could not tag $INSTANCE_ID with $OPT_OUT_TAG=true (ec2:CreateTags); the registration and the agent were left unchanged"
  log "opted out of hub registration: tag $OPT_OUT_TAG=true (remove it to register again)"
  log "stopping the agent"
  AGENT_STOPPED=1
  agent_ctl stop >/dev/null 2>&1 || fail "could not stop the SSM Agent"
  log "clearing the on-prem registration"
  "$AGENT_BIN" -register -clear >/dev/null 2>&1 || fail "amazon-ssm-agent -register -clear failed"
  rm -f "$REGISTRATION_FILE"
  log "starting the agent under the instance's own identity"
  agent_ctl start >/dev/null 2>&1 || fail "could not start the SSM Agent"
  rm -f "$STATE_DIR/registered-instance"
  remove_tag "$MI_TAG" || fail "could not remove tag $MI_TAG (ec2:DeleteTags)"
  remove_tag "$ERROR_TAG" || log "could not remove tag $ERROR_TAG"
  trap - ERR
  log "deregistration complete; the instance is managed by its own account's Systems Manager again"
}

if [ "$MODE" = worker ]; then worker; else check; fi
