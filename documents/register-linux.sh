#!/usr/bin/env bash
# Registers this EC2 instance's SSM Agent with the central hub's hybrid activation.
#
# Runs in two modes:
#   (default)  the check, run by Run Command: read IMDSv2; exit 0 with "opted out" when the
#              opt-out tag is true (the deregistration worker sets it), with "already registered"
#              when the agent runs as this instance's hub node, or with "tag restored" when only
#              the managedinstanceid tag was lost; exit 7 while a tag back-off runs (below); else
#              read the activation, schedule a detached worker and exit 0 at once (the agent
#              running this command restarts and changes identity).
#   --worker   the detached worker, under the lock: check again, back up the agent config, stop
#              the agent, turn off its credential sharing, register, start it, wait until it runs
#              as the new node, tag the instance (5 tries with backoff). Any failure before the
#              tag is written, the tag's included, clears the registration, restores the agent
#              config and restarts the agent, so the instance falls back to its own account's
#              SSM: a hub node without its tag is never claimed by the hub (the collector sends
#              only tagged instances) and the agency's association could no longer reach it.
#              A worker killed meanwhile is undone the same way by its guard.
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
#   SSM_HUB_IDENTITY_WAIT (seconds the agent has to run as the new node, 180),
#   SSM_HUB_RETRY_PAUSE (first pause between tag tries, 2; doubled each time),
#   SSM_HUB_LOCK_WAIT (seconds a deregistration worker waits for the lock, 480).
#
# The activation code is a secret: it is never printed, logged or written to a file. It is read
# into a variable and handed to amazon-ssm-agent, whose only way to receive it is -code
# (core/agent_parser.go), so it is in that process's command line while -register runs.
#
# This file is embedded, compacted, in a template with a hard size limit: names are short on
# purpose. Every SSM_HUB_* variable and the agent's proxy reach the worker.
set -euo pipefail
umask 077
J=register
PP=${SSM_HUB_ACTIVATION_PARAMETER_PATH:-}
CONF_DIR=${SSM_HUB_AGENT_CONFIG_DIR:-/etc/amazon/ssm}
CONF=$CONF_DIR/amazon-ssm-agent.json

# @include lib/common.sh

# AID/CODE: the activation; NC: the new agent config; BAK: its verified backup ("" = none taken,
# "-" = there was no config); TOUCHED: 1 from stopping the agent until the instance is tagged.
AID='' CODE='' NC='' BAK='' TOUCHED=0
# Present from the moment the worker may change the agent until its registration is complete
# (tagged) or undone; holds BAK, so the guard can undo the work of a killed worker (rescue).
PEND=$STATE/pending
# Tag back-off. A tag that cannot be written after registering (an SCP or a tag policy denying
# ec2:CreateTags does not clear) would make every hourly run use one of the activation's
# registrations and leave a node for the hub's 24 h orphan sweep. TB holds "<instance> <k>
# <epoch>": the last k registrations of this instance could not be tagged, the last at epoch. The
# check then registers only 2^(k-1)-1 hours (at most 23) after it: the hourly runs try after 1, 2,
# 4, 8, 16, then every 24 hours. A tagged registration removes it; an image copy ignores it.
TB=$STATE/tag-backoff
K=0 T=0

read_activation() {
  [[ $PP =~ ^(/[A-Za-z0-9_.-]+)+$ ]] || die 2 "document parameter ActivationParameterPath must be a Parameter Store path"
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

# Sets V to the value of one EC2 tag of this instance ("None" when it has no such tag, "" cleared).
tag_value() {
  V=$(tv "$1") || die 5 "cannot read the tags of $IID (ec2:DescribeTags)"
}

# K, T: this instance's tag back-off (0 0 for none; see TB).
tb() {
  local i='' k='' t=''
  read -r i k t 2>/dev/null <"$TB" || :
  if [[ $i = "$IID" && $k =~ ^[1-9][0-9]{0,2}$ && $t =~ ^[0-9]{1,12}$ ]]; then K=$k T=$t; fi
}

# Exits 7, with nothing changed, while the tag back-off runs.
backoff() {
  local n w
  tb
  n=$(date +%s)
  w=$((((K > 5 ? 24 : 1 << (K - 1)) - 1) * 3600))
  if ((K && n >= T && n - T < w)); then
    die 7 "not registering until $(date -u -d "@$((T + w))" +%FT%TZ): the last $K registrations could not tag $IID with $MI_TAG (ec2:CreateTags; an SCP or tag policy?), the last at $(date -u -d "@$T" +%FT%TZ); each used a registration of the activation (delete $TB to try now)"
  fi
}

# Only the value true opts out: the deregistration worker writes exactly that.
opted_out() {
  tag_value "$OPT_TAG"
  if [[ $V = true ]]; then
    log "opted out of hub registration: tag $OPT_TAG is true (remove it to register)"
    exit 0
  fi
}

# N: this instance's own hub node ("" for none, or for the node of the image it was copied from).
own() {
  hub
  [[ ! -s $MARK || $(<"$MARK") = "$IID" ]] || N=
}

# NC: the agent config with Profile.ShareCreds false. The hybrid agent otherwise copies the hub
# role's credentials into root's shared credentials file (agent/appconfig/contracts.go, default
# true). Go's encoding/json (agent/jsonutil UnmarshalFile) decodes keys in order into the same
# struct, matching names case-insensitively, so a "Profile":{"ShareCreds":false} added as the last
# member of the top-level object wins over any earlier spelling and keeps the other Profile
# settings. The text before it is kept byte for byte; a valid object stays valid. python3, when
# present, checks the result before the agent is touched. A config whose Identity.ConsumptionOrder (its last spelling)
# names known identities but not OnPrem before EC2 is refused: the agent takes the first
# available one, unknown names dropped, none left = OnPrem, EC2, CustomIdentity
# (appconfig_parser.go, constants.go, common/identity/identity_selector.go).
new_conf() {
  local t b o k='"Profile":{"ShareCreds":false}}'
  t=$(cat "$CONF" 2>/dev/null || cat "$CONF.template" 2>/dev/null) || t='{}'
  o=$(printf %s "$t" | tr -d '\n' | grep -io '"consumptionorder"[^]]*' | tail -n1 | grep -o '"\(OnPrem\|ECS\|EC2\|CustomIdentity\)"' | tr -d '\n"') || o=
  [[ -z $o || ${o//ECS/} =~ ^(CustomIdentity)*OnPrem ]] || die 6 "$CONF: Identity.ConsumptionOrder has no OnPrem before EC2"
  t=${t%"${t##*[![:space:]]}"}
  [[ $t = *\} ]] || die 6 "the agent config $CONF is not a JSON object"
  NC=$t
  if [[ $t != *"$k" ]]; then
    b=${t%\}}
    t=${b%"${b##*[![:space:]]}"}
    [[ $t = *\{ ]] || b+=,
    NC=$b$k
  fi
  if command -v python3 >/dev/null && ! printf %s "$NC" | python3 -c 'import json,sys;json.load(sys.stdin)' 2>/dev/null; then
    die 6 "the agent config $CONF is not valid JSON"
  fi
}

# Sets BAK once the config is copied and the copy reads back the same ("-": there was none).
# Before the agent is touched: a failed backup stops the worker with nothing changed, and fail()
# never copies a partial backup over the intact config.
backup() {
  local b=$STATE/amazon-ssm-agent.json.bak
  if [[ ! -f $CONF ]]; then
    BAK=-
  elif cp -p "$CONF" "$b.t" 2>/dev/null && [[ $(<"$b.t") == "$(<"$CONF")" ]] && mv -f "$b.t" "$b"; then
    BAK=$b
  else
    rm -f "$b.t"
    die 6 "cannot back up the agent config $CONF to $b (disk full?)"
  fi
}

# Writes NC beside the config and renames it into place.
put_conf() {
  mkdir -p "$CONF_DIR"
  echo "$NC" >"$CONF.n"
  mv -f "$CONF.n" "$CONF"
  log "set Profile.ShareCreds to false in $CONF"
}

# Waits up to WAIT s for the agent to run as node $1: systemctl start returns before it has
# chosen an identity (Type=simple), and a crash or an EC2-first config never shows the node.
await() {
  local i
  for ((i = 0; i <= WAIT; i++)); do
    if up && hub && [[ $N = "$1" ]]; then return 0; fi
    sleep 1
  done
  return 1
}

# CreateTags $1, tried 5 times with backoff; fails when every try failed.
tagp() {
  local i p=${SSM_HUB_RETRY_PAUSE:-2}
  for i in 1 2 3 4 5; do
    if tags "$1"; then return 0; fi
    log "tagging: try $i failed"
    ((i == 5)) || sleep $((p << (i - 1)))
  done
  return 1
}

check() {
  validate
  find_agent
  # Agents before 3.1.501.0 write no identity_config.json: which identity they use is unknown.
  [[ -e $IDC ]] || die 3 "the SSM Agent is older than 3.1.501.0 (no $IDC); update it"
  proxy
  read_imds
  log "instance $IID in $IREG; hub Region $HUB"
  opted_out
  own
  if [[ $N ]]; then
    tag_value "$MI_TAG"
    # Registering again would orphan the node: a lost or changed tag is only put back.
    if [[ $V != "$N" ]]; then
      tags "Key=$MI_TAG,Value=$N" || die 5 "cannot tag $IID with $MI_TAG=$N (ec2:CreateTags)"
      V='; tag restored'
    else
      V='; nothing to do'
    fi
    log "already registered as $N in $HUB$V"
    exit 0
  fi
  backoff
  read_activation
  CODE=''
  spawn "registration with $HUB"
}

# ---- worker ---------------------------------------------------------------------------------

# On any failure: when the agent was touched and the instance is not yet tagged, clear the
# on-prem registration (and the registration file, which -register -clear leaves), restore the
# agent config and restart the agent, so it falls back to the instance's own account (the hub's
# orphan sweep removes the unclaimed node); record why. The guard runs it too (rescue). TOUCHED
# is set only under the lock, with PEND: a worker that failed before the lock leaves PEND to the
# worker holding it (that worker's guard reads it).
fail() {
  # Cleanup is best effort: nothing below may end the script early or re-enter fail().
  trap - ERR
  trap '' TERM INT HUP
  set +e
  log "ERROR: $1"
  if ((TOUCHED)); then
    log "clearing the on-prem registration so the instance falls back to its own account's SSM"
    ctl stop >/dev/null 2>&1
    "$BIN" -register -clear >/dev/null 2>&1 || log "amazon-ssm-agent -register -clear failed"
    rm -f "$REG" "$MARK"
    if [[ $BAK = - ]]; then rm -f "$CONF"; elif [[ $BAK ]]; then cp -p "$BAK" "$CONF"; fi
    if [[ $BAK ]]; then log "restored $CONF"; fi
    if ctl start >/dev/null 2>&1; then log "agent restarted under the instance's own identity"; else log "could not restart the agent"; fi
    clr "$MI_TAG" || log "could not clear tag $MI_TAG"
    rm -f "$PEND"
  fi
  err_tag "$1"
  log "registration failed"
  exit 1
}

# Another worker holds the lock (common.sh wstart): leave it to finish; the next run checks again.
wlock() {
  log "another worker is running; leaving it to finish"
  exit 0
}

# The guard's way out (common.sh guard): the worker died with its work unfinished (PEND holds its
# BAK): undo it as fail() does. Otherwise only start the agent.
rescue() {
  if [[ -e $PEND ]]; then
    BAK=$(<"$PEND") TOUCHED=1
    fail "the worker ended before the registration was complete"
  fi
  ctl start
}

worker() {
  wstart
  # Again under the lock: another worker may have registered, or failed to tag (the back-off), or
  # the way back opted out, meanwhile.
  opted_out
  own
  if [[ $N ]]; then
    log "already registered as $N in $HUB; nothing to do"
    exit 0
  fi
  backoff
  read_activation
  new_conf
  log "instance $IID in $IREG; agent $BIN ($SVC); activation $AID"
  # Let the Run Command that started us report its result before the agent goes away.
  sleep "$DELAY"

  backup
  guard
  echo "$BAK" >"$PEND"
  TOUCHED=1
  log "stopping the agent"
  ctl stop >/dev/null 2>&1 || fail "could not stop the SSM Agent"
  put_conf
  log "registering with activation $AID in $HUB"
  local o mi
  # The code is an argument of this one process; its output is checked, never logged verbatim.
  if ! o=$("$BIN" -register -y -code "$CODE" -id "$AID" -region "$HUB" 2>&1); then
    o=${o//"$CODE"/[redacted]}
    CODE=''
    fail "amazon-ssm-agent -register failed: $(printf '%s' "$o" | tail -n 3 | tr -s '\n' ' ' | cut -c1-200)"
  fi
  CODE=''
  node
  mi=$N
  [[ $mi && $NR = "$HUB" ]] || fail "amazon-ssm-agent -register left no managed node in $HUB in its vault"
  log "registered as $mi; starting the agent"
  ctl start >/dev/null 2>&1 || fail "could not start the SSM Agent after registering"
  await "$mi" || fail "the agent did not run as $mi within $WAIT s (see $IDC and the agent log)"
  log "the agent runs as $mi"
  # Untagged, the node is never claimed by the hub, and the agent no longer answers the agency:
  # a node that cannot be tagged is given up (fail() falls back; the next run registers anew).
  tagp "Key=$MI_TAG,Value=$mi" || {
    tb
    echo "$IID $((K + 1)) $(date +%s)" >"$TB" || :
    fail "registered as $mi but could not tag $IID with $MI_TAG (ec2:CreateTags); registration cleared, the instance is back on its own account's SSM"
  }
  echo "$IID" >"$MARK"
  rm -f "$PEND"
  rm -f "$TB"
  TOUCHED=0
  log "tagged $IID with $MI_TAG=$mi"
  clr "$ERR_TAG" || log "could not clear tag $ERR_TAG (ec2:CreateTags)"
  trap - ERR
  log "registration complete"
}

if [[ $MODE = worker ]]; then worker; else check; fi
