# Returns this EC2 instance to its own account's Systems Manager (Windows): the way back.
#
#   (default)  the check, run by Run Command: when the agent's vault holds a registration with the
#              hub Region, detach the worker. An instance that is not registered at all is opted
#              out too, and loses a stale mi- tag.
#   -Worker    the scheduled task, under the lock shared with the register worker (waiting up to
#              SSM_HUB_LOCK_WAIT s, 480, for a register worker that holds it): first set the
#              opt-out tag <prefix>registration-opt-out=true (so the hourly registration does not
#              undo the way back; when it cannot be set the worker stops there, leaving the
#              registration and the agent as they were), then stop the agent, clear the on-prem
#              registration, start the agent (it comes back under the instance profile), clear
#              the managedinstanceid and error tags (written empty: the role cannot delete tags).
#
# Inputs (environment; the SSM document sets them): SSM_HUB_REGION (a registration to any other
#   Region is left alone), SSM_HUB_RESERVED_TAG_PREFIX, SSM_HUB_MANAGED_INSTANCE_ID_TAG.
# Overridable: the SSM_HUB_* paths and waits of register-windows.ps1.
$Job = 'deregister'
# @include lib/common.ps1

function Invoke-Failure([string] $Reason) {
  $ErrorActionPreference = 'Continue'
  Write-Log "ERROR: $Reason"
  # Only an agent this worker stopped is started again: before that, nothing was changed.
  if ($script:AgentStopped) {
    try { Set-AgentState 'Running' } catch { Write-Log 'could not start the agent' }
  }
  Write-ErrorTag $Reason
  Write-Log 'deregistration failed'
  exit 1
}

# Opted out and without the mi- tag: the state of an instance that is not (or no longer) registered.
function Complete-OptOut {
  try { Set-Tag $OptOutTag 'true' } catch { Stop-WithError 5 "cannot tag $($script:InstanceId) with $OptOutTag=true (ec2:CreateTags)" }
  try { Clear-Tag $MiTag } catch { Stop-WithError 5 "cannot clear tag $MiTag of $($script:InstanceId) (ec2:CreateTags)" }
}

# Another worker holds the lock (Invoke-Worker): wait for it, bounded, then do the work. The
# document has already reported success: a dropped request would leave the instance on the hub.
function Wait-Lock {
  Write-Log "another worker is running; waiting up to $LockWait s for it"
  $deadline = (Get-Date).AddSeconds([int] $LockWait)
  do { Start-Sleep -Seconds 5; $held = -not (Enter-Lock) } while ($held -and (Get-Date) -lt $deadline)
  if ($held) { Invoke-Failure "another worker held the lock for $LockWait s; nothing was changed: run the deregistration document again" }
}

# The guard task's way out (Invoke-Guard, which then starts the agent): nothing to undo.
function Invoke-Rescue { Write-Log 'starting the agent the worker may have left stopped' }

# Run by Invoke-Worker (common.ps1) before the lock.
function Initialize-Worker {
  Import-AwsTools 'AWS.Tools.EC2'
  Use-Proxy
  Read-Imds
}

function Invoke-Check {
  Test-Inputs
  Import-AwsTools 'AWS.Tools.EC2'
  Use-Proxy
  Read-Imds
  $node = Read-OnPremNode
  if (-not $node.Id) {
    # Nothing to undo in the agent, but the way back must hold: opt out of the hourly
    # registration. A stale tag would still mislead the collector.
    Complete-OptOut
    Write-Log "not registered with any hub; opted out of hub registration (tag $OptOutTag=true)"
    exit 0
  }
  if ($node.Region -ne $HubRegion) {
    Write-Log "registered as $($node.Id) with Region '$($node.Region)', not the hub Region $HubRegion; left alone"
    exit 0
  }
  Test-Agent
  Start-Worker "deregistration of $($node.Id)"
}

function Invoke-Deregistration {
  Test-Agent
  # Read again under the lock: a worker before this one may have changed it.
  $node = Read-OnPremNode
  if ($node.Id -and $node.Region -ne $HubRegion) {
    Write-Log "registered as $($node.Id) with Region '$($node.Region)', not the hub Region $HubRegion; left alone"
    exit 0
  }
  Write-Log "instance $($script:InstanceId) in $($script:InstanceRegion); was '$($node.Id)'"
  Start-Sleep -Seconds ([int] $WorkerDelay)
  # First, before anything changes: once the registration is cleared, a missing opt-out tag would let
  # the hourly registration association register the instance again. Fails with nothing changed.
  try { Set-Tag $OptOutTag 'true' } catch {
    Invoke-Failure "could not tag $($script:InstanceId) with $OptOutTag=true (ec2:CreateTags); the registration and the agent were left unchanged"
  }
  Write-Log "opted out of hub registration: tag $OptOutTag=true (remove it to register again)"
  if ($node.Id) {
    Register-Guard
    Write-Log 'stopping the agent'
    try { Set-AgentState 'Stopped' } catch { Invoke-Failure "could not stop the SSM Agent: $($_.Exception.Message)" }
    Write-Log 'clearing the on-prem registration'
    if (-not (Clear-Registration)) { Invoke-Failure 'amazon-ssm-agent -register -clear failed' }
    Write-Log "starting the agent under the instance's own identity"
    try { Set-AgentState 'Running' } catch { Invoke-Failure "could not start the SSM Agent: $($_.Exception.Message)" }
  } else {
    Write-Log 'no hub registration left to clear'
    Remove-Item -LiteralPath $RegistrationFile, $Mark -Force -ErrorAction SilentlyContinue
  }
  try { Clear-Tag $MiTag } catch { Invoke-Failure "could not clear tag $MiTag (ec2:CreateTags)" }
  try { Clear-Tag $ErrorTag } catch { Write-Log "could not clear tag $ErrorTag" }
  Write-Log "deregistration complete; the instance is managed by its own account's Systems Manager again"
}

if ($args -contains '-Guard') { Invoke-Guard } elseif ($Mode -eq 'worker') { Invoke-Worker { Invoke-Deregistration } } else { Invoke-Check }
