#!/usr/bin/env bash
# Returns this EC2 instance to its own account's Systems Manager: the way back from the hub.
#
#   (default)  the check, run by Run Command: when the agent's vault holds a registration with
#              the hub Region, schedule a detached worker and exit 0 at once (the agent restarts
#              and changes identity, so the result could never be reported otherwise). An
#              instance that is not registered at all is opted out too, and loses a stale mi- tag.
#   --worker   under the lock shared with the register worker (waiting up to SSM_HUB_LOCK_WAIT s,
#              480, for a register worker that holds it): first set the opt-out tag
#              <prefix>registration-opt-out=true (so the hourly registration association does not
#              undo the way back; when it cannot be set the worker stops there, leaving the
#              registration and the agent as they were), then stop the agent, clear the on-prem
#              registration, start the agent (it comes back under the instance profile), clear
#              the managedinstanceid and error tags (written empty: the role cannot delete tags).
#
# Inputs (environment; the SSM document exports them):
#   SSM_HUB_REGION                   hub Region; a registration to any other Region is left alone
#   SSM_HUB_RESERVED_TAG_PREFIX      prefix of the tags <prefix>registration-error and
#                                    <prefix>registration-opt-out
#   SSM_HUB_MANAGED_INSTANCE_ID_TAG  EC2 tag key that records the mi- ID (default managedinstanceid)
# Overridable: the SSM_HUB_* paths and waits of register-linux.sh; the log is
#   SSM_HUB_LOG_FILE (/var/log/ssm-hub-deregister.log).
set -euo pipefail
umask 077
J=deregister

# @include lib/common.sh

# AST: 1 while the agent this worker stopped is not running again.
AST=''

# Only an agent this worker stopped is started again: before that, nothing was changed.
fail() {
  trap - ERR
  trap '' TERM INT HUP
  set +e
  log "ERROR: $1"
  if [[ $AST ]]; then ctl start >/dev/null 2>&1 || log "could not start the agent"; fi
  err_tag "$1"
  log "deregistration failed"
  exit 1
}

# Another worker holds the lock (common.sh wstart): wait for it, bounded, then do the work. The
# document has already reported success: a dropped request would leave the instance on the hub.
wlock() {
  log "another worker is running; waiting up to $LW s for it"
  flock -w "$LW" 9 || fail "another worker held the lock for $LW s; nothing was changed: run the deregistration document again"
}

# The guard's way out (common.sh guard): start the agent this worker stopped.
rescue() { ctl start; }

check() {
  validate
  find_agent
  proxy
  read_imds
  node
  if [[ -z $N ]]; then
    # Nothing to undo in the agent, but the way back must hold: opt out of the hourly
    # registration. A stale tag would still mislead the collector.
    tags "Key=$OPT_TAG,Value=true" || die 5 "cannot tag $IID with $OPT_TAG=true (ec2:CreateTags)"
    clr "$MI_TAG" || die 5 "cannot clear tag $MI_TAG of $IID (ec2:CreateTags)"
    log "not registered with any hub; opted out of hub registration (tag $OPT_TAG=true)"
    exit 0
  fi
  if [[ $NR != "$HUB" ]]; then
    log "registered as $N with Region '$NR', not the hub Region $HUB; left alone"
    exit 0
  fi
  spawn "deregistration of $N"
}

worker() {
  wstart
  # Read again under the lock: a worker before this one may have changed it.
  node
  if [[ $N && $NR != "$HUB" ]]; then
    log "registered as $N with Region '$NR', not the hub Region $HUB; left alone"
    exit 0
  fi
  log "instance $IID in $IREG; agent $BIN ($SVC); was '$N'"
  sleep "$DELAY"
  # First, before anything changes: once the registration is cleared, a missing opt-out tag would let
  # the hourly registration association register the instance again. Fails with nothing changed.
  tags "Key=$OPT_TAG,Value=true" || fail "could not tag $IID with $OPT_TAG=true (ec2:CreateTags); the registration and the agent were left unchanged"
  log "opted out of hub registration: tag $OPT_TAG=true (remove it to register again)"
  if [[ $N ]]; then
    guard
    log "stopping the agent"
    AST=1
    ctl stop >/dev/null 2>&1 || fail "could not stop the SSM Agent"
    log "clearing the on-prem registration"
    "$BIN" -register -clear >/dev/null 2>&1 || fail "amazon-ssm-agent -register -clear failed"
    # -register -clear empties the vault but leaves the registration file (core/agent_parser.go).
    rm -f "$REG" "$MARK"
    log "starting the agent under the instance's own identity"
    ctl start >/dev/null 2>&1 || fail "could not start the SSM Agent"
    AST=''
  else
    log "no hub registration left to clear"
    rm -f "$REG" "$MARK"
  fi
  clr "$MI_TAG" || fail "could not clear tag $MI_TAG (ec2:CreateTags)"
  clr "$ERR_TAG" || log "could not clear tag $ERR_TAG"
  trap - ERR
  log "deregistration complete; the instance is managed by its own account's Systems Manager again"
}

if [[ $MODE = worker ]]; then worker; else check; fi
