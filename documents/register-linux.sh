#!/usr/bin/env bash
# Registers this EC2 instance's SSM Agent with the central hub's hybrid activation.
#
# Runs in two modes:
#   (default)  the check, run by Run Command: read IMDSv2 and the activation parameters, exit 0
#              with "already registered" when nothing is to do, else schedule a detached worker
#              and exit 0 at once (the agent running this command restarts and changes identity).
#   --worker   the detached worker: stop the agent, register, start it, read the mi- ID from the
#              registration file, tag the instance. On failure it clears the on-prem registration
#              and restarts the agent, so the instance falls back to its own account's SSM.
#
# Inputs (environment; the SSM document exports the first four from its parameters):
#   SSM_HUB_REGION                     hub Region to register with (e.g. eu-west-1)
#   SSM_HUB_ACTIVATION_PARAMETER_PATH  path of the SecureString parameters <path>/id and <path>/code
#   SSM_HUB_RESERVED_TAG_PREFIX        prefix of the error tag <prefix>registration-error
#   SSM_HUB_MANAGED_INSTANCE_ID_TAG    EC2 tag key that records the mi- ID (default managedinstanceid)
# Overridable for tests and unusual hosts:
#   SSM_HUB_IMDS_ENDPOINT (http://169.254.169.254), SSM_HUB_AGENT_STATE_DIR (/var/lib/amazon/ssm),
#   SSM_HUB_STATE_DIR (/var/lib/ssm-hub), SSM_HUB_LOG_FILE (/var/log/ssm-hub-register.log),
#   SSM_HUB_SNAP_ROOT (/snap), SSM_HUB_WORKER_DELAY (seconds before the worker stops the agent, 10).
#
# The activation code is a secret: it is never printed, logged or written to a file. It is read
# into a variable and handed to amazon-ssm-agent, which has no other way to receive it.
set -euo pipefail
umask 077

MODE=check
if [ "${1:-}" = "--worker" ]; then MODE=worker; fi

HUB_REGION="${SSM_HUB_REGION:-}"
PARAM_PATH="${SSM_HUB_ACTIVATION_PARAMETER_PATH:-}"
TAG_PREFIX="${SSM_HUB_RESERVED_TAG_PREFIX:-}"
MI_TAG="${SSM_HUB_MANAGED_INSTANCE_ID_TAG:-managedinstanceid}"
IMDS="${SSM_HUB_IMDS_ENDPOINT:-http://169.254.169.254}"
AGENT_STATE_DIR="${SSM_HUB_AGENT_STATE_DIR:-/var/lib/amazon/ssm}"
STATE_DIR="${SSM_HUB_STATE_DIR:-/var/lib/ssm-hub}"
LOG_FILE="${SSM_HUB_LOG_FILE:-/var/log/ssm-hub-register.log}"
SNAP_ROOT="${SSM_HUB_SNAP_ROOT:-/snap}"
WORKER_DELAY="${SSM_HUB_WORKER_DELAY:-10}"
REGISTRATION_FILE="$AGENT_STATE_DIR/registration"
ERROR_TAG="${TAG_PREFIX}registration-error"

# The hybrid agent may write the central account's credentials into root's shared credentials
# file. Every AWS CLI call here must act as the instance's own role, so the file is ignored and
# the CLI falls through to the instance profile.
export AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export AWS_PAGER=""

INSTANCE_ID=""
INSTANCE_REGION=""
ACTIVATION_ID=""
ACTIVATION_CODE=""
AGENT_BIN=""
AGENT_SERVICE=""
AGENT_TOUCHED=0

log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) [$MODE] $*"
  printf '%s\n' "$line"
  if [ "$MODE" = worker ]; then printf '%s\n' "$line" >>"$LOG_FILE" 2>/dev/null || true; fi
}

# The check fails before anything changed: clear message, non-zero exit. The worker also
# records the failure (and undoes a half-done registration) through fail().
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
  [[ "$PARAM_PATH" =~ ^(/[A-Za-z0-9_.-]+)+$ ]] ||
    die 2 "SSM_HUB_ACTIVATION_PARAMETER_PATH (document parameter ActivationParameterPath) must be a Parameter Store path"
  [ -n "$TAG_PREFIX" ] || die 2 "SSM_HUB_RESERVED_TAG_PREFIX is not set"
  [[ "$WORKER_DELAY" =~ ^[0-9]+$ ]] || die 2 "SSM_HUB_WORKER_DELAY must be a whole number of seconds"
}

require_tools() {
  command -v curl >/dev/null 2>&1 || die 3 "curl is not installed; it is needed to read the instance metadata (IMDSv2)"
  command -v aws >/dev/null 2>&1 ||
    die 3 "the AWS CLI (aws) is not installed or not on PATH; install AWS CLI v2 to read the activation parameters"
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

# Prints one SecureString parameter's value to stdout (captured by the caller, never shown).
get_parameter() {
  aws ssm get-parameter --name "$1" --with-decryption --region "$INSTANCE_REGION" \
    --query Parameter.Value --output text
}

read_activation() {
  local id_name="$PARAM_PATH/id" code_name="$PARAM_PATH/code" err
  err="$(mktemp)"
  if ! ACTIVATION_ID="$(get_parameter "$id_name" 2>"$err")"; then
    local why
    why="$(tr -s '\n' ' ' <"$err" | cut -c1-300)"
    rm -f "$err"
    die 5 "cannot read activation parameter $id_name: $why"
  fi
  if ! ACTIVATION_CODE="$(get_parameter "$code_name" 2>"$err")"; then
    local why
    why="$(tr -s '\n' ' ' <"$err" | cut -c1-300)"
    rm -f "$err"
    die 5 "cannot read activation parameter $code_name: $why"
  fi
  rm -f "$err"
  if [ -z "$ACTIVATION_ID" ] || [ "$ACTIVATION_ID" = None ]; then die 5 "activation parameter $id_name is empty"; fi
  if [ -z "$ACTIVATION_CODE" ] || [ "$ACTIVATION_CODE" = None ]; then die 5 "activation parameter $code_name is empty"; fi
  [[ "$ACTIVATION_ID" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] ||
    die 5 "activation parameter $id_name does not hold an activation ID"
  # Checked without echoing it: one line of printable, non-space characters.
  [[ "$ACTIVATION_CODE" =~ ^[[:graph:]]{1,250}$ ]] || die 5 "activation parameter $code_name does not hold an activation code"
}

# Finds the agent binary and its service: the Ubuntu snap, else the deb/rpm install.
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
    # Upstart (Amazon Linux 1 era hosts): `stop` / `start` are initctl shortcuts.
    initctl "$action" amazon-ssm-agent
  else
    log "no systemctl or initctl found to $action the agent"
    return 1
  fi
}

# Reads one string field of the agent's registration file (JSON written by the agent itself).
registration_field() {
  [ -s "$REGISTRATION_FILE" ] || return 0
  sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$REGISTRATION_FILE" | head -n 1
}

current_tag_value() {
  aws ec2 describe-tags --region "$INSTANCE_REGION" \
    --filters "Name=resource-id,Values=$INSTANCE_ID" "Name=key,Values=$MI_TAG" \
    --query 'Tags[0].Value' --output text
}

# Tag values must be short and use characters both EC2 and SSM accept.
tag_safe() {
  printf '%s' "$*" | tr -c 'A-Za-z0-9 _.:/+@-' ' ' | tr -s ' ' | cut -c1-256
}

check() {
  validate_inputs
  require_tools
  read_imds
  log "instance $INSTANCE_ID in $INSTANCE_REGION; hub Region $HUB_REGION"

  local registered_mi registered_region tag_value
  registered_mi="$(registration_field ManagedInstanceID)"
  registered_region="$(registration_field Region)"
  if [[ "$registered_mi" =~ ^mi-[0-9a-f]{17}$ ]] && [ "$registered_region" = "$HUB_REGION" ]; then
    tag_value="$(current_tag_value 2>/dev/null)" || die 5 "cannot read the tags of $INSTANCE_ID (ec2:DescribeTags)"
    if [ "$tag_value" = "$registered_mi" ]; then
      log "already registered as $registered_mi in $HUB_REGION; nothing to do"
      exit 0
    fi
  fi

  read_activation
  find_agent
  schedule_worker
}

schedule_worker() {
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  local worker="$STATE_DIR/register-worker.sh" bash_bin unit
  # The worker is this very script; Run Command deletes its copy when the command ends.
  cp "$0" "$worker"
  chmod 700 "$worker"
  bash_bin="$(command -v bash)"
  unit="ssm-hub-register-$(date +%s)"
  local -a env_args=()
  local name
  for name in SSM_HUB_REGION SSM_HUB_ACTIVATION_PARAMETER_PATH SSM_HUB_RESERVED_TAG_PREFIX \
    SSM_HUB_MANAGED_INSTANCE_ID_TAG SSM_HUB_IMDS_ENDPOINT SSM_HUB_AGENT_STATE_DIR SSM_HUB_STATE_DIR \
    SSM_HUB_LOG_FILE SSM_HUB_SNAP_ROOT SSM_HUB_WORKER_DELAY PATH; do
    if [ -n "${!name+x}" ]; then env_args+=("--setenv=$name=${!name}"); fi
  done
  # A transient systemd unit outlives the agent's restart; --collect (systemd 236+) is retried
  # without for Amazon Linux 2's systemd 219. Without systemd: a new session, immune to SIGHUP.
  if command -v systemd-run >/dev/null 2>&1 &&
    { systemd-run --unit "$unit" --collect --quiet ${env_args[@]+"${env_args[@]}"} "$bash_bin" "$worker" --worker ||
      systemd-run --unit "$unit" --quiet ${env_args[@]+"${env_args[@]}"} "$bash_bin" "$worker" --worker; }; then
    log "registration with $HUB_REGION scheduled as systemd unit $unit; progress is logged to $LOG_FILE"
  else
    setsid nohup "$bash_bin" "$worker" --worker </dev/null >/dev/null 2>&1 &
    log "registration with $HUB_REGION scheduled as background process $!; progress is logged to $LOG_FILE"
  fi
  exit 0
}

# ---- worker ---------------------------------------------------------------------------------

# On any failure after the agent was touched: clear the on-prem registration, restart the agent
# so it falls back to the instance's own account, and record why in the error tag.
fail() {
  local reason="$1"
  # Cleanup is best effort: nothing below may end the script early or re-enter fail().
  trap - ERR
  set +e
  log "ERROR: $reason"
  if [ "$AGENT_TOUCHED" = 1 ]; then
    log "clearing the on-prem registration so the instance falls back to its own account's SSM"
    agent_ctl stop >/dev/null 2>&1 || true
    "$AGENT_BIN" -register -clear >/dev/null 2>&1 || log "amazon-ssm-agent -register -clear failed"
    rm -f "$REGISTRATION_FILE" 2>/dev/null || true
    if agent_ctl start >/dev/null 2>&1; then log "agent restarted under the instance's own identity"; else log "could not restart the agent"; fi
    aws ec2 delete-tags --region "$INSTANCE_REGION" --resources "$INSTANCE_ID" --tags "Key=$MI_TAG" >/dev/null 2>&1 ||
      log "could not remove tag $MI_TAG"
  fi
  if [ -n "$INSTANCE_ID" ] && [ -n "$INSTANCE_REGION" ]; then
    if aws ec2 create-tags --region "$INSTANCE_REGION" --resources "$INSTANCE_ID" \
      --tags "Key=$ERROR_TAG,Value=$(tag_safe "$(date -u +%Y-%m-%dT%H:%M:%SZ) $reason")" >/dev/null 2>&1; then
      log "recorded the failure in tag $ERROR_TAG"
    else
      log "could not write tag $ERROR_TAG"
    fi
  fi
  log "registration failed"
  exit 1
}

worker() {
  mkdir -p "$(dirname "$LOG_FILE")"
  # Any command that fails unexpectedly, in any function, ends in fail().
  set -o errtrace
  trap 'fail "unexpected error at line $LINENO"' ERR
  validate_inputs
  log "worker started"
  if ! mkdir "$STATE_DIR/worker.lock" 2>/dev/null; then
    log "another registration worker is running; leaving it to finish"
    exit 0
  fi
  trap 'rmdir "$STATE_DIR/worker.lock" 2>/dev/null || true' EXIT
  require_tools
  read_imds
  read_activation
  find_agent
  log "instance $INSTANCE_ID in $INSTANCE_REGION; agent $AGENT_BIN ($AGENT_SERVICE); activation $ACTIVATION_ID"
  # Let the Run Command that started us report its result before the agent goes away.
  sleep "$WORKER_DELAY"

  AGENT_TOUCHED=1
  log "stopping the agent"
  agent_ctl stop >/dev/null 2>&1 || fail "could not stop the SSM Agent"
  log "registering with activation $ACTIVATION_ID in $HUB_REGION"
  local out
  # The code is an argument of this one process; its output is checked, never logged verbatim.
  if ! out="$("$AGENT_BIN" -register -y -code "$ACTIVATION_CODE" -id "$ACTIVATION_ID" -region "$HUB_REGION" 2>&1)"; then
    out="${out//"$ACTIVATION_CODE"/[redacted]}"
    ACTIVATION_CODE=""
    fail "amazon-ssm-agent -register failed: $(printf '%s' "$out" | tail -n 3 | tr -s '\n' ' ' | cut -c1-200)"
  fi
  ACTIVATION_CODE=""
  log "starting the agent"
  agent_ctl start >/dev/null 2>&1 || fail "could not start the SSM Agent after registering"

  local mi region
  mi="$(registration_field ManagedInstanceID)"
  region="$(registration_field Region)"
  [[ "$mi" =~ ^mi-[0-9a-f]{17}$ ]] || fail "the registration file $REGISTRATION_FILE holds no managed instance ID"
  [ "$region" = "$HUB_REGION" ] || fail "the registration file names Region '$region', not $HUB_REGION"
  log "registered as $mi"

  aws ec2 create-tags --region "$INSTANCE_REGION" --resources "$INSTANCE_ID" \
    --tags "Key=$MI_TAG,Value=$mi" >/dev/null 2>&1 || fail "could not tag $INSTANCE_ID with $MI_TAG=$mi (ec2:CreateTags)"
  log "tagged $INSTANCE_ID with $MI_TAG=$mi"
  aws ec2 delete-tags --region "$INSTANCE_REGION" --resources "$INSTANCE_ID" \
    --tags "Key=$ERROR_TAG" >/dev/null 2>&1 || log "could not remove tag $ERROR_TAG (ec2:DeleteTags)"
  trap - ERR
  log "registration complete"
}

if [ "$MODE" = worker ]; then worker; else check; fi
