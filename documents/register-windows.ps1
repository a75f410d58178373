# Registers this EC2 instance's SSM Agent with the central hub's hybrid activation (Windows).
#
#   (default)  the check, run by Run Command: read IMDSv2; exit 0 with "opted out" when the
#              opt-out tag is true (the deregistration worker sets it), with "already registered"
#              when the agent runs as a hub node, or with "tag restored" when only the
#              managedinstanceid tag was lost; exit 7 while a tag back-off runs (Test-TagBackoff);
#              else read the activation and detach the worker.
#   -Worker    the scheduled task, under the lock: check again, back up the agent config, stop the
#              agent, turn off its credential sharing, register, start it, wait until it runs as
#              the new node, tag the instance (5 tries). Any failure before the tag is written, the
#              tag's included, clears the registration, restores the agent config and restarts the
#              agent, so the instance falls back to its own account's SSM: a hub node without its
#              tag is never claimed by the hub and the agency's association could no longer reach
#              it. A worker the task's time limit ends is undone the same way by its guard task.
#
# Inputs (environment; the SSM document sets the first four): SSM_HUB_REGION,
#   SSM_HUB_ACTIVATION_PARAMETER_PATH, SSM_HUB_RESERVED_TAG_PREFIX, SSM_HUB_MANAGED_INSTANCE_ID_TAG.
# Overridable: SSM_HUB_IMDS_ENDPOINT, _SSM_DATA_DIR, _AGENT_STATE_DIR, _STATE_DIR, _LOG_FILE,
#   _WORKER_DELAY, _IDENTITY_WAIT, _LOCK_WAIT. Every SSM_HUB_* variable and the proxy reach the worker.
#
# The activation code is a secret: never printed, logged or written to a file. It is held in a
# variable and handed to amazon-ssm-agent.exe, whose only way to receive it is -code
# (core/agent_parser.go), so it is in that process's command line while -register runs.
# There is no param() block: the document puts its $env: lines before this script.
$Job = 'register'
# @include lib/common.ps1

$ParamPath = Get-Setting 'ACTIVATION_PARAMETER_PATH'
$script:ActivationId = ''
$script:ActivationCode = ''
# $true from stopping the agent until the instance is tagged: a failure then clears it.
$script:AgentTouched = $false
# Verified backup of the agent config: '' = none taken, '-' = there was no config.
$script:ConfBak = ''
# Tag back-off, as on Linux (register-linux.sh TB): "<instance> <k> <UTC time>", the last of k
# registrations in a row that could not be tagged (an SCP or a tag policy denying ec2:CreateTags
# does not clear; each registration uses one of the activation's). The check then registers only
# 2^(k-1)-1 hours (at most 23) after it. A tagged registration removes it; an image copy ignores it.
$TagBackoff = "$StateDir\tag-backoff"

# k and the time of this instance's tag back-off: 0 and $null for none.
function Get-TagBackoff {
  if (-not (Test-Path -LiteralPath $TagBackoff)) { return 0, $null }
  try {
    $i, $n, $t = "$(Get-Content -LiteralPath $TagBackoff -Raw)".Trim() -split ' '
    if ($i -eq $script:InstanceId -and $n -match '^[1-9]\d{0,2}$') {
      return ([int] $n), [DateTime]::ParseExact($t, 's', [Globalization.CultureInfo]::InvariantCulture)
    }
  } catch { Write-Log "ignoring ${TagBackoff}: $($_.Exception.Message)" }
  return 0, $null
}

# Stops the check, with nothing changed, while the tag back-off runs.
function Test-TagBackoff {
  $k, $at = Get-TagBackoff
  if ($k -lt 2) { return }
  $until = $at.AddHours([Math]::Min([Math]::Pow(2, $k - 1), 24) - 1)
  $now = [DateTime]::UtcNow
  if ($now -ge $at -and $now -lt $until) {
    Stop-WithError 7 "not registering until $($until.ToString('s'))Z: the last $k registrations could not tag $($script:InstanceId) with $MiTag (ec2:CreateTags; an SCP or tag policy?), the last at $($at.ToString('s'))Z; each used a registration of the activation (delete $TagBackoff to try now)"
  }
}

function Test-RegisterInputs {
  Test-Inputs
  if ($ParamPath -notmatch '^(/[A-Za-z0-9_.-]+)+$') {
    Stop-WithError 2 'document parameter ActivationParameterPath must be a Parameter Store path'
  }
}

function Read-Activation {
  $idName = "$ParamPath/id"
  $codeName = "$ParamPath/code"
  try {
    $result = Get-SSMParameterValue -Name $idName, $codeName -WithDecryption $true `
      -Region $script:InstanceRegion -Credential $script:Credential
  } catch {
    Stop-WithError 5 "cannot read activation parameters ${idName} and ${codeName}: $($_.Exception.Message)"
  }
  foreach ($missing in @($result.InvalidParameters)) {
    if ($missing) { Stop-WithError 5 "cannot read activation parameter ${missing}: ParameterNotFound" }
  }
  foreach ($p in @($result.Parameters)) {
    if ($p.Name -eq $idName) { $script:ActivationId = [string] $p.Value }
    if ($p.Name -eq $codeName) { $script:ActivationCode = [string] $p.Value }
  }
  if ($script:ActivationId -notmatch '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$') {
    Stop-WithError 5 "activation parameter $idName is empty or not an activation ID"
  }
  if ($script:ActivationCode -notmatch '^\S{1,250}$') { Stop-WithError 5 "activation parameter $codeName is empty or not an activation code" }
}

# Only the value true opts out: the deregistration worker writes exactly that.
function Test-OptedOut {
  if ((Get-Tag $OptOutTag) -eq 'true') {
    Write-Log "opted out of hub registration: tag $OptOutTag is true (remove it to register)"
    exit 0
  }
}

# This instance's own hub node ('' for none, or for the registration of the image it was copied from).
function Get-OwnHubNode {
  $mi = Get-HubNode
  if ($mi -and (-not (Test-Path -LiteralPath $Mark) -or "$(Get-Content -LiteralPath $Mark -Raw)".Trim() -eq $script:InstanceId)) { return $mi }
  return ''
}

# The agent picks the first available identity in Identity.ConsumptionOrder (values as in
# agent/appconfig/appconfig_parser.go; none valid = the default, OnPrem first: constants.go);
# one that puts EC2 before OnPrem would make a registration a dead node.
function Test-ConsumptionOrder($Config) {
  $identity = $Config.PSObject.Properties['Identity']
  if (-not ($identity -and $identity.Value -and $identity.Value.PSObject.Properties['ConsumptionOrder'])) { return }
  $valid = @(@($identity.Value.ConsumptionOrder) | Where-Object { 'OnPrem', 'ECS', 'EC2', 'CustomIdentity' -ccontains $_ })
  if ($valid.Count -and (@($valid | Where-Object { 'OnPrem', 'EC2' -ccontains $_ }) | Select-Object -First 1) -cne 'OnPrem') {
    Stop-WithError 6 "the agent config $Conf sets Identity.ConsumptionOrder '$($valid -join ',')': the agent would not use the hub registration"
  }
}

# The agent config with Profile.ShareCreds false: the hybrid agent otherwise copies the hub role's
# credentials into SYSTEM's shared credentials file (agent/appconfig/contracts.go, default true).
# ConvertTo-Json writes valid JSON whatever the layout; property names match case-insensitively,
# as in Go's encoding/json, and ConvertFrom-Json refuses keys that differ only in case, which
# stops the worker here, before the agent is touched.
function New-AgentConfig {
  $json = $null
  try {
    if (Test-Path -LiteralPath $Conf) { $json = Get-Content -LiteralPath $Conf -Raw | ConvertFrom-Json }
    elseif (Test-Path -LiteralPath "$Conf.template") { $json = Get-Content -LiteralPath "$Conf.template" -Raw | ConvertFrom-Json }
  } catch { Stop-WithError 6 "cannot read the agent config ${Conf}: $($_.Exception.Message)" }
  if ($null -eq $json) { $json = [pscustomobject] @{} }
  if ($json -isnot [Management.Automation.PSCustomObject]) { Stop-WithError 6 "the agent config $Conf is not a JSON object" }
  Test-ConsumptionOrder $json
  $p = $json.PSObject.Properties['Profile']
  if (-not $p -or $p.Value -isnot [Management.Automation.PSCustomObject]) {
    $json | Add-Member -NotePropertyName Profile -NotePropertyValue ([pscustomobject] @{}) -Force
  }
  $json.Profile.PSObject.Properties.Remove('ShareCreds')
  $json.Profile | Add-Member -NotePropertyName ShareCreds -NotePropertyValue $false
  $text = $json | ConvertTo-Json -Depth 100
  if ((($text | ConvertFrom-Json).Profile.ShareCreds) -ne $false) { Stop-WithError 6 'the new agent config does not read back with Profile.ShareCreds false' }
  return $text
}

# Sets ConfBak once the config is copied and the copy hashes the same ('-': there was none).
# Before the agent is touched: a failed backup stops the worker with nothing changed, and
# Invoke-Failure never copies a partial backup over the intact config.
function Backup-AgentConfig {
  $bak = "$StateDir\amazon-ssm-agent.json.bak"
  if (-not (Test-Path -LiteralPath $Conf)) { $script:ConfBak = '-'; return }
  try {
    Copy-Item -LiteralPath $Conf -Destination "$bak.tmp" -Force
    if ((Get-FileHash -LiteralPath "$bak.tmp").Hash -ne (Get-FileHash -LiteralPath $Conf).Hash) { throw 'the copy differs from the config' }
    Move-Item -LiteralPath "$bak.tmp" -Destination $bak -Force
  } catch {
    Remove-Item -LiteralPath "$bak.tmp" -Force -ErrorAction SilentlyContinue
    Stop-WithError 6 "cannot back up the agent config $Conf to ${bak}: $($_.Exception.Message)"
  }
  $script:ConfBak = $bak
}

# Written without a BOM (the agent's JSON parser refuses one), beside it and moved into place.
function Write-AgentConfig([string] $Text) {
  [IO.File]::WriteAllText("$Conf.new", $Text)
  Move-Item -LiteralPath "$Conf.new" -Destination $Conf -Force
  Write-Log "set Profile.ShareCreds to false in $Conf"
}

# The agent must run as the new node within the wait: Running is reported before the agent has
# chosen an identity, and a crash or a config that prefers EC2 never shows the node.
function Wait-HubIdentity([string] $Mi) {
  $deadline = (Get-Date).AddSeconds([int] $IdentityWait)
  do {
    if ((Get-Service -Name $AgentService).Status -eq 'Running' -and (Get-HubNode) -eq $Mi) { return $true }
    Start-Sleep -Seconds 5
  } while ((Get-Date) -lt $deadline)
  return $false
}

# AgentTouched is set only under the lock, with $Pending: a worker that failed before the lock
# (Invoke-Worker: Test-Inputs, Initialize-Worker) only reports, and leaves the mark to the worker
# holding the lock (that worker's guard task reads it).
function Invoke-Failure([string] $Reason) {
  $ErrorActionPreference = 'Continue'
  Write-Log "ERROR: $Reason"
  if ($script:AgentTouched) {
    Write-Log "clearing the on-prem registration so the instance falls back to its own account's SSM"
    try { Set-AgentState 'Stopped' } catch { Write-Log 'could not stop the agent' }
    if (-not (Clear-Registration)) { Write-Log 'amazon-ssm-agent -register -clear failed' }
    if ($script:ConfBak -eq '-') { Remove-Item -LiteralPath $Conf -Force } elseif ($script:ConfBak) { Copy-Item -LiteralPath $script:ConfBak -Destination $Conf -Force }
    if ($script:ConfBak) { Write-Log "restored $Conf" }
    try { Set-AgentState 'Running'; Write-Log "agent restarted under the instance's own identity" } catch { Write-Log 'could not restart the agent' }
    try { Clear-Tag $MiTag } catch { Write-Log "could not clear tag $MiTag" }
    Remove-Item -LiteralPath $Pending -Force -ErrorAction SilentlyContinue
  }
  Write-ErrorTag $Reason
  Write-Log 'registration failed'
  exit 1
}

# Another worker holds the lock (Invoke-Worker): leave it to finish; the next run checks again.
function Wait-Lock {
  Write-Log 'another worker is running; leaving it to finish'
  exit 0
}

# The guard task's way out (Invoke-Guard): the worker died with its work unfinished ($Pending holds
# its config backup): undo it as Invoke-Failure does, before anything that could fail.
function Invoke-Rescue {
  if (-not (Test-Path -LiteralPath $Pending)) { return }
  $script:ConfBak = "$(Get-Content -LiteralPath $Pending -Raw)".Trim()
  $script:AgentTouched = $true
  try { Initialize-Worker } catch { Write-Log "guard: $($_.Exception.Message)" }
  Invoke-Failure 'the worker ended before the registration was complete'
}

# Run by Invoke-Worker (common.ps1) before the lock.
function Initialize-Worker {
  Test-RegisterInputs
  Import-AwsTools 'AWS.Tools.SimpleSystemsManagement', 'AWS.Tools.EC2'
  Use-Proxy
  Read-Imds
}

function Invoke-Check {
  Test-RegisterInputs
  # Agents before 3.1.501.0 (the first with common/runtimeconfig/identity_runtimeconfig.go) write no
  # identity_config.json: which identity they use is unknown, and every run would register again.
  if (-not (Test-Path -LiteralPath $IdentityConfig)) { Stop-WithError 3 "the SSM Agent is older than 3.1.501.0 (no $IdentityConfig); update it" }
  Import-AwsTools 'AWS.Tools.SimpleSystemsManagement', 'AWS.Tools.EC2'
  Use-Proxy
  Read-Imds
  $id = $script:InstanceId
  Write-Log "instance $id in $($script:InstanceRegion); hub Region $HubRegion"
  Test-OptedOut
  $mi = Get-OwnHubNode
  if ($mi) {
    # Registering again would orphan the node: a lost or changed tag is only put back.
    $note = 'nothing to do'
    if ((Get-Tag $MiTag) -ne $mi) {
      try { Set-Tag $MiTag $mi } catch { Stop-WithError 5 "cannot tag $id with $MiTag=$mi (ec2:CreateTags)" }
      $note = 'tag restored'
    }
    Write-Log "already registered as $mi in $HubRegion; $note"
    exit 0
  }
  Test-TagBackoff
  Read-Activation
  $script:ActivationCode = ''
  Test-Agent
  Start-Worker "registration with $HubRegion"
}

function Invoke-Registration {
  $id = $script:InstanceId
  # Again under the lock: another worker may have registered, or failed to tag (the back-off), or
  # the way back opted out, meanwhile.
  Test-OptedOut
  $mi = Get-OwnHubNode
  if ($mi) {
    Write-Log "already registered as $mi in $HubRegion; nothing to do"
    exit 0
  }
  Test-TagBackoff
  Read-Activation
  Test-Agent
  $config = New-AgentConfig
  Write-Log "instance $id in $($script:InstanceRegion); activation $($script:ActivationId)"
  Start-Sleep -Seconds ([int] $WorkerDelay)

  Backup-AgentConfig
  Register-Guard
  Set-Content -LiteralPath $Pending -Value $script:ConfBak
  $script:AgentTouched = $true
  Write-Log 'stopping the agent'
  try { Set-AgentState 'Stopped' } catch { Invoke-Failure "could not stop the SSM Agent: $($_.Exception.Message)" }
  Write-AgentConfig $config
  Write-Log "registering with activation $($script:ActivationId) in $HubRegion"
  # Windows PowerShell turns a native command's stderr into errors under 'Stop': relax it here.
  $out = & {
    $ErrorActionPreference = 'Continue'
    & $AgentExe -register -y -code $script:ActivationCode -id $script:ActivationId -region $HubRegion 2>&1 | Out-String
  }
  $registerExit = $LASTEXITCODE
  $out = $out.Replace($script:ActivationCode, '[redacted]')
  $script:ActivationCode = ''
  if ($registerExit -ne 0) {
    $tail = (($out -split "`r?`n") | Where-Object { $_ } | Select-Object -Last 3) -join ' '
    Invoke-Failure "amazon-ssm-agent -register failed: $tail"
  }
  $mi = (Read-OnPremNode).Id
  if (-not $mi) { Invoke-Failure 'amazon-ssm-agent -register left no managed node in its vault' }
  Write-Log "registered as $mi; starting the agent"
  try { Set-AgentState 'Running' } catch { Invoke-Failure "could not start the SSM Agent after registering: $($_.Exception.Message)" }
  if (-not (Wait-HubIdentity $mi)) {
    Invoke-Failure "the agent did not run as $mi within $IdentityWait s (see $IdentityConfig and the agent log)"
  }
  Write-Log "the agent runs as $mi"
  # Untagged, the node is never claimed by the hub, and the agent no longer answers the agency:
  # a node that cannot be tagged is given up (Invoke-Failure falls back; the next run registers anew).
  if (-not (Set-TagPatiently $MiTag $mi)) {
    $k = (Get-TagBackoff)[0] + 1
    try { Set-Content -LiteralPath $TagBackoff -Value "$id $k $([DateTime]::UtcNow.ToString('s'))" } catch { Write-Log "could not write $TagBackoff" }
    Invoke-Failure "registered as $mi but could not tag $id with $MiTag (ec2:CreateTags); registration cleared, the instance is back on its own account's SSM"
  }
  Set-Content -LiteralPath $Mark -Value $id
  Remove-Item -LiteralPath $Pending -Force
  Remove-Item -LiteralPath $TagBackoff -Force -ErrorAction SilentlyContinue
  $script:AgentTouched = $false
  Write-Log "tagged $id with $MiTag=$mi"
  try { Clear-Tag $ErrorTag } catch { Write-Log "could not clear tag $ErrorTag (ec2:CreateTags)" }
  Write-Log 'registration complete'
}

if ($args -contains '-Guard') { Invoke-Guard } elseif ($Mode -eq 'worker') { Invoke-Worker { Invoke-Registration } } else { Invoke-Check }
