#!/usr/bin/env bash
# Registers this EC2 instance's SSM Agent with the central hub's hybrid activation.
#
# Runs in two modes:
#   (default)  the check, run by Run Command: read IMDSv2; exit 0 with "opted out" when the
#              instance carries the opt-out tag (the deregistration worker sets it), with
#              "already registered" when nothing is to do, or with "tag restored" when only the
#              managedinstanceid tag was lost; else read the activation, schedule a detached worker
#              and exit 0 at once (the agent running this command restarts and changes identity).
#   --worker   the detached worker: stop the agent, turn off the agent's credential sharing,
#              register, start it, read the mi- ID from the registration file, tag the instance.
#              On failure it clears the on-prem registration, restores the agent config and
#              restarts the agent, so the instance falls back to its own account's SSM.
#
# Inputs (environment; the SSM document exports the first four from its parameters):
#   SSM_HUB_REGION                     hub Region to register with (e.g. eu-west-1)
#   SSM_HUB_ACTIVATION_PARAMETER_PATH  path of the SecureString parameters <path>/id and <path>/code
#   SSM_HUB_RESERVED_TAG_PREFIX        prefix of the tags <prefix>registration-error and
#                                      <prefix>registration-opt-out
#   SSM_HUB_MANAGED_INSTANCE_ID_TAG    EC2 tag key that records the mi- ID (default managedinstanceid)
# Overridable for tests and unusual hosts:
#   SSM_HUB_IMDS_ENDPOINT (http://169.254.169.254), SSM_HUB_AGENT_STATE_DIR (/var/lib/amazon/ssm),
#   SSM_HUB_AGENT_CONFIG_DIR (/etc/amazon/ssm), SSM_HUB_STATE_DIR (/var/lib/ssm-hub),
#   SSM_HUB_LOG_FILE (/var/log/ssm-hub-register.log), SSM_HUB_SNAP_ROOT (/snap),
#   SSM_HUB_WORKER_DELAY (seconds before the worker stops the agent, 10),
#   SSM_HUB_BOOT_ID_FILE (/proc/sys/kernel/random/boot_id).
#
# The activation code is a secret: it is never printed, logged or written to a file. It is read
# into a variable and handed to amazon-ssm-agent, which has no other way to receive it.
#
# This file is embedded, compacted, in a template with a hard size limit: names are short on
# purpose. Every environment variable named SSM_HUB_* is passed on to the worker.
set -euo pipefail
umask 077

MODE=check
if [[ ${1:-} = --worker ]]; then MODE=worker; fi

HUB=${SSM_HUB_REGION:-}
PP=${SSM_HUB_ACTIVATION_PARAMETER_PATH:-}
PFX=${SSM_HUB_RESERVED_TAG_PREFIX:-}
MI_TAG=${SSM_HUB_MANAGED_INSTANCE_ID_TAG:-managedinstanceid}
IMDS=${SSM_HUB_IMDS_ENDPOINT:-http://169.254.169.254}
REG=${SSM_HUB_AGENT_STATE_DIR:-/var/lib/amazon/ssm}/registration
CONF_DIR=${SSM_HUB_AGENT_CONFIG_DIR:-/etc/amazon/ssm}
CONF=$CONF_DIR/amazon-ssm-agent.json
STATE=${SSM_HUB_STATE_DIR:-/var/lib/ssm-hub}
LOG=${SSM_HUB_LOG_FILE:-/var/log/ssm-hub-register.log}
SNAP=${SSM_HUB_SNAP_ROOT:-/snap}
DELAY=${SSM_HUB_WORKER_DELAY:-10}
ERR_TAG=${PFX}registration-error
OPT_TAG=${PFX}registration-opt-out
# The instance ID the worker last registered: a copied image carries the registration file but
# not a matching marker, and must register as a node of its own.
MARK=$STATE/registered-instance
L=$STATE/worker.lock
RE='^[a-z]{2}(-[a-z]+)+-[0-9]+$'

# @include lib/common.sh

# IID/IREG: this instance's ID and Region; AID/CODE: the activation; BIN/SVC: the agent;
# BAK: the agent config backup ("" = not touched, "-" = the config did not exist before).
IID='' IREG='' AID='' CODE='' BIN='' SVC='' BAK='' TOUCHED=0

log() {
  local l
  l="$(date -u +%FT%TZ) [$MODE] $*"
  echo "$l"
  if [[ $MODE = worker ]]; then echo "$l" >>"$LOG" 2>/dev/null || true; fi
}

# The check fails before anything changed: clear message, non-zero exit. The worker also
# records the failure (and undoes a half-done registration) through fail().
die() {
  if [[ $MODE = worker ]]; then fail "$2"; fi
  log "ERROR: $2; nothing was changed on this instance"
  exit "$1"
}

validate() {
  [[ $HUB =~ $RE ]] || die 2 "SSM_HUB_REGION (document parameter HubRegion) must be a Region name, got '$HUB'"
  [[ $PP =~ ^(/[A-Za-z0-9_.-]+)+$ ]] || die 2 "document parameter ActivationParameterPath must be a Parameter Store path"
  [[ $PFX ]] || die 2 "SSM_HUB_RESERVED_TAG_PREFIX is not set"
  [[ $DELAY =~ ^[0-9]+$ ]] || die 2 "SSM_HUB_WORKER_DELAY must be a whole number of seconds"
  command -v curl >/dev/null || die 3 "curl is not installed; it is needed to read the instance metadata"
  command -v aws >/dev/null || die 3 "the AWS CLI (aws) is not installed or not on PATH"
}

imds() { curl -sf --connect-timeout 2 --max-time 5 "$@"; }

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

read_activation() {
  local n v e
  e=$(mktemp)
  for n in id code; do
    if ! v=$(aws ssm get-parameter --name "$PP/$n" --with-decryption --region "$IREG" --query Parameter.Value --output text 2>"$e"); then
      v=$(tr -s '\n' ' ' <"$e")
      rm -f "$e"
      die 5 "cannot read activation parameter $PP/$n: ${v:0:300}"
    fi
    if [[ $n = id ]]; then AID=$v; else CODE=$v; fi
  done
  rm -f "$e"
  [[ $AID =~ ^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$ ]] || die 5 "activation parameter $PP/id is empty or not an activation ID"
  # Checked without echoing it: one line of printable, non-space characters.
  [[ $CODE != None && $CODE =~ ^[[:graph:]]{1,250}$ ]] || die 5 "activation parameter $PP/code is empty or not an activation code"
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

# Stops or starts the agent: systemd, else Upstart (Amazon Linux 1 era hosts).
ctl() {
  if command -v systemctl >/dev/null; then systemctl "$1" "$SVC"; else initctl "$1" amazon-ssm-agent; fi
}

# Reads one string field of the agent's registration file (JSON written by the agent itself).
reg() {
  [[ ! -s $REG ]] || sed -nE "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"([^\"]*)\".*/\1/p" "$REG" | head -n1
}

# Sets V to the value of one EC2 tag of this instance ("None" when it has no such tag).
tag_value() {
  V=$(aws ec2 describe-tags --region "$IREG" --filters "Name=resource-id,Values=$IID" "Name=key,Values=$1" \
    --query 'Tags[0].Value' --output text 2>/dev/null) || die 5 "cannot read the tags of $IID (ec2:DescribeTags)"
}

# tags create|delete Key=...[,Value=...] on this instance.
tags() {
  aws ec2 "$1-tags" --region "$IREG" --resources "$IID" --tags "$2" >/dev/null 2>&1
}

check() {
  validate
  read_imds
  log "instance $IID in $IREG; hub Region $HUB"
  local mi V
  tag_value "$OPT_TAG"
  if [[ $V != None ]]; then
    log "opted out of hub registration: tag $OPT_TAG is set (remove it to register)"
    exit 0
  fi
  mi=$(reg ManagedInstanceID)
  if [[ $mi =~ ^mi-[0-9a-f]{17}$ && $(reg Region) = "$HUB" && (! -s $MARK || $(<"$MARK") = "$IID") ]]; then
    tag_value "$MI_TAG"
    # Registering again would orphan the node: a lost or changed tag is only put back.
    if [[ $V != "$mi" ]]; then
      tags create "Key=$MI_TAG,Value=$mi" || die 5 "cannot tag $IID with $MI_TAG=$mi (ec2:CreateTags)"
      V='; tag restored'
    else
      V='; nothing to do'
    fi
    log "already registered as $mi in $HUB$V"
    exit 0
  fi
  read_activation
  CODE=''
  find_agent
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  local w=$STATE/register-worker.sh b u n a=()
  # The worker is this very script; Run Command deletes its copy when the command ends.
  cp "$0" "$w"
  chmod 700 "$w"
  b=$(command -v bash)
  u=ssm-hub-register-$(date +%s)
  for n in ${!SSM_HUB_@} PATH; do a+=("--setenv=$n=${!n}"); done
  # A transient systemd unit outlives the agent's restart; --collect (systemd 236+) is retried
  # without for Amazon Linux 2's systemd 219. Without systemd: a new session, immune to SIGHUP.
  if command -v systemd-run >/dev/null &&
    { systemd-run --unit "$u" --collect --quiet "${a[@]}" "$b" "$w" --worker ||
      systemd-run --unit "$u" --quiet "${a[@]}" "$b" "$w" --worker; }; then
    n="systemd unit $u"
  else
    setsid nohup "$b" "$w" --worker </dev/null >/dev/null 2>&1 &
    n="background process $!"
  fi
  log "registration with $HUB scheduled as $n; progress is logged to $LOG"
}

# ---- worker ---------------------------------------------------------------------------------

# The hybrid agent copies its (hub role) credentials into root's shared AWS credentials file
# unless the agent config says Profile.ShareCreds false (default true), so root's other jobs
# would act as the hub. Sets it, after a backup; the file may come from the package's template.
share_creds_off() {
  local k='"ShareCreds"' s='[[:space:]]*'
  BAK=-
  if [[ -f $CONF ]]; then
    BAK=$STATE/amazon-ssm-agent.json.bak
    cp -p "$CONF" "$BAK"
  else
    mkdir -p "$CONF_DIR"
    cp "$CONF.template" "$CONF" 2>/dev/null || echo "{\"Profile\":{$k:false}}" >"$CONF"
  fi
  if grep -q "$k" "$CONF"; then
    sed -Ei "s/($k$s:$s)true/\1false/" "$CONF"
  elif grep -q '"Profile"' "$CONF"; then
    sed -Ei "s/(\"Profile\"$s:$s\{)/\1$k:false,/;s/false,($s)\}/false\1}/" "$CONF"
  else
    sed -Ei "0,/\{/s//{\"Profile\":{$k:false},/;s/\},($s)\}/}\1}/" "$CONF"
  fi
  grep -Eq "$k$s:${s}false" "$CONF" || fail "could not set Profile.ShareCreds to false in $CONF"
  log "set Profile.ShareCreds to false in $CONF"
}

# On any failure after the agent was touched: clear the on-prem registration, restore the agent
# config, restart the agent so it falls back to the instance's own account, record the reason.
fail() {
  # Cleanup is best effort: nothing below may end the script early or re-enter fail().
  trap - ERR
  set +e
  log "ERROR: $1"
  if ((TOUCHED)); then
    log "clearing the on-prem registration so the instance falls back to its own account's SSM"
    ctl stop >/dev/null 2>&1
    "$BIN" -register -clear >/dev/null 2>&1 || log "amazon-ssm-agent -register -clear failed"
    rm -f "$REG"
    if [[ $BAK = - ]]; then rm -f "$CONF"; elif [[ $BAK ]]; then cp -p "$BAK" "$CONF"; fi
    if [[ $BAK ]]; then log "restored $CONF"; fi
    if ctl start >/dev/null 2>&1; then log "agent restarted under the instance's own identity"; else log "could not restart the agent"; fi
    tags delete "Key=$MI_TAG" || log "could not remove tag $MI_TAG"
  fi
  if [[ $IREG ]]; then
    if tags create "Key=$ERR_TAG,Value=$(date -u +%FT%TZ) $(printf %s "$1" | tr -c 'A-Za-z0-9 _.:/+@-' ' ' | tr -s ' ' | cut -c1-230)"; then
      log "recorded the failure in tag $ERR_TAG"
    else
      log "could not write tag $ERR_TAG"
    fi
  fi
  log "registration failed"
  exit 1
}

# Takes the worker lock L, recording its owner (PID and boot ID). A lock whose owner is dead or from
# another boot was left by a killed worker (reboot, OOM kill) and would block every later run.
lock() {
  b=$(cat "${SSM_HUB_BOOT_ID_FILE:-/proc/sys/kernel/random/boot_id}") || b=
  mkdir "$L" 2>/dev/null || {
    read -r p q <"$L/owner" && [[ $q = "$b" ]] && kill -0 "$p" && return 1
    log "removing a stale worker lock"
    rm -rf "$L"
    mkdir "$L" || return 1
  }
  echo "$$ $b" >"$L/owner"
}

worker() {
  mkdir -p "${LOG%/*}"
  # Any command that fails unexpectedly, in any function, ends in fail().
  set -o errtrace
  trap 'fail "unexpected error at line $LINENO"' ERR
  validate
  log "worker started"
  if ! lock; then
    log "another worker is running; leaving it to finish"
    exit 0
  fi
  trap 'rm -rf "$L"' EXIT
  read_imds
  read_activation
  find_agent
  log "instance $IID in $IREG; agent $BIN ($SVC); activation $AID"
  # Let the Run Command that started us report its result before the agent goes away.
  sleep "$DELAY"

  TOUCHED=1
  log "stopping the agent"
  ctl stop >/dev/null 2>&1 || fail "could not stop the SSM Agent"
  share_creds_off
  log "registering with activation $AID in $HUB"
  local o mi
  # The code is an argument of this one process; its output is checked, never logged verbatim.
  if ! o=$("$BIN" -register -y -code "$CODE" -id "$AID" -region "$HUB" 2>&1); then
    o=${o//"$CODE"/[redacted]}
    CODE=''
    fail "amazon-ssm-agent -register failed: $(printf '%s' "$o" | tail -n 3 | tr -s '\n' ' ' | cut -c1-200)"
  fi
  CODE=''
  log "starting the agent"
  ctl start >/dev/null 2>&1 || fail "could not start the SSM Agent after registering"
  mi=$(reg ManagedInstanceID)
  [[ $mi =~ ^mi-[0-9a-f]{17}$ && $(reg Region) = "$HUB" ]] || fail "the registration file $REG names no managed node in $HUB"
  log "registered as $mi"
  tags create "Key=$MI_TAG,Value=$mi" || fail "could not tag $IID with $MI_TAG=$mi (ec2:CreateTags)"
  echo "$IID" >"$MARK"
  log "tagged $IID with $MI_TAG=$mi"
  tags delete "Key=$ERR_TAG" || log "could not remove tag $ERR_TAG (ec2:DeleteTags)"
  trap - ERR
  log "registration complete"
}

if [[ $MODE = worker ]]; then worker; else check; fi
