# Registers this EC2 instance's SSM Agent with the central hub's hybrid activation (Windows).
#
# Runs in two modes:
#   (default)  the check, run by Run Command: read IMDSv2; exit 0 with "opted out" when the
#              instance carries the opt-out tag (the deregistration worker sets it), with
#              "already registered" when nothing is to do, or with "tag restored" when only the
#              managedinstanceid tag was lost; else read the activation, schedule a one-shot
#              scheduled task (SYSTEM) and exit 0 at once: the agent running this command restarts
#              and changes identity, so the result could never be reported otherwise.
#   -Worker    the scheduled task: stop the agent, turn off the agent's credential sharing,
#              register, start it, read the mi- ID from the registration file, tag the instance.
#              On failure it clears the on-prem registration, restores the agent config and
#              restarts the agent, so the instance falls back to its own account's SSM.
#
# Inputs (environment; the SSM document sets the first four from its parameters):
#   SSM_HUB_REGION, SSM_HUB_ACTIVATION_PARAMETER_PATH, SSM_HUB_RESERVED_TAG_PREFIX (prefix of the
#   tags <prefix>registration-error and <prefix>registration-opt-out),
#   SSM_HUB_MANAGED_INSTANCE_ID_TAG (default managedinstanceid)
# Overridable: SSM_HUB_IMDS_ENDPOINT, SSM_HUB_AGENT_STATE_DIR, SSM_HUB_STATE_DIR, SSM_HUB_LOG_FILE,
#   SSM_HUB_WORKER_DELAY. Every SSM_HUB_* variable is passed on to the worker.
#
# The activation code is a secret: it is never printed, logged or written to a file. It is held
# in a variable and handed to amazon-ssm-agent.exe, which has no other way to receive it.
# There is no param() block: the document puts its $env: lines before this script.
# This file is embedded, compacted, in a template with a hard size limit: keep it terse.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 2.0

$Mode = 'check'
if ($args -contains '-Worker') { $Mode = 'worker' }

function Get-Setting([string] $Name, [string] $Default) {
  $value = [Environment]::GetEnvironmentVariable("SSM_HUB_$Name")
  if ($value) { return $value }
  return $Default
}

$HubRegion = Get-Setting 'REGION'
$ParamPath = Get-Setting 'ACTIVATION_PARAMETER_PATH'
$TagPrefix = Get-Setting 'RESERVED_TAG_PREFIX'
$MiTag = Get-Setting 'MANAGED_INSTANCE_ID_TAG' 'managedinstanceid'
$Imds = Get-Setting 'IMDS_ENDPOINT' 'http://169.254.169.254'
$SsmData = Join-Path $env:ProgramData 'Amazon\SSM'
$AgentStateDir = Get-Setting 'AGENT_STATE_DIR' (Join-Path $env:ProgramData 'Amazon\SSM\InstanceData')
$StateDir = Get-Setting 'STATE_DIR' "$SsmData\ssm-hub"
$LogFile = Get-Setting 'LOG_FILE' "$SsmData\ssm-hub-register.log"
$WorkerDelay = Get-Setting 'WORKER_DELAY' '10'
$RegistrationFile = Join-Path $AgentStateDir 'registration'
$AgentExe = Join-Path $env:ProgramFiles 'Amazon\SSM\amazon-ssm-agent.exe'
$Conf = Join-Path $env:ProgramFiles 'Amazon\SSM\amazon-ssm-agent.json'
$AgentService = 'AmazonSSMAgent'
$ErrorTag = "${TagPrefix}registration-error"
$OptOutTag = "${TagPrefix}registration-opt-out"
# The instance ID the worker last registered: a copied image carries the registration file but
# not a matching marker, and must register as a node of its own.
$Mark = Join-Path $StateDir 'registered-instance'
$TaskName = 'ssm-hub-register'
$RegionPattern = '^[a-z]{2}(-[a-z]+)+-\d+$'

$script:InstanceId = ''
$script:InstanceRegion = ''
$script:ActivationId = ''
$script:ActivationCode = ''
$script:AgentTouched = $false
$script:Credential = $null
# Backup of the agent config: '' = not touched, '-' = there was none.
$script:ConfBak = ''

function Write-Log([string] $Message) {
  $line = '{0} [{1}] {2}' -f (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ'), $Mode, $Message
  # Straight to stdout (which Run Command captures), never into a function's return value.
  [Console]::Out.WriteLine($line)
  if ($Mode -eq 'worker') {
    try { Add-Content -Path $LogFile -Value $line -Encoding UTF8 } catch { Write-Verbose 'log file not writable' }
  }
}

# The check fails before anything changed: clear message, non-zero exit. The worker also records
# the failure (and undoes a half-done registration) through Invoke-Failure.
function Stop-WithError([int] $Status, [string] $Message) {
  if ($Mode -eq 'worker') { Invoke-Failure $Message }
  Write-Log "ERROR: $Message; nothing was changed on this instance"
  exit $Status
}

function Test-Inputs {
  if ($HubRegion -notmatch $RegionPattern) {
    Stop-WithError 2 "SSM_HUB_REGION (document parameter HubRegion) must be a Region name, got '$HubRegion'"
  }
  if ($ParamPath -notmatch '^(/[A-Za-z0-9_.-]+)+$') {
    Stop-WithError 2 'document parameter ActivationParameterPath must be a Parameter Store path'
  }
  if (-not $TagPrefix) { Stop-WithError 2 'SSM_HUB_RESERVED_TAG_PREFIX is not set' }
  if ($WorkerDelay -notmatch '^\d+$') { Stop-WithError 2 'SSM_HUB_WORKER_DELAY must be a whole number of seconds' }
}

# AWS Tools for PowerShell: the modular AWS.Tools.* modules, or the AWSPowerShell bundle that
# Windows Server AMIs ship with.
function Import-AwsTools {
  $modular = 'AWS.Tools.SimpleSystemsManagement', 'AWS.Tools.EC2'
  if (@(Get-Module -ListAvailable -Name $modular).Count -ge 2) {
    Import-Module -Name $modular
  } elseif (Get-Module -ListAvailable -Name 'AWSPowerShell') {
    Import-Module -Name 'AWSPowerShell'
  } else {
    Stop-WithError 3 'AWS Tools for PowerShell is not installed (AWS.Tools.SimpleSystemsManagement and AWS.Tools.EC2, or AWSPowerShell)'
  }
  # The hybrid agent may share the central account's credentials in a profile; every call here
  # must act as the instance's own role, so the instance-profile credentials are passed explicitly.
  $script:Credential = New-Object -TypeName Amazon.Runtime.InstanceProfileAWSCredentials
}

function Read-Imds {
  try {
    $token = Invoke-RestMethod -UseBasicParsing -Method Put -Uri "$Imds/latest/api/token" -TimeoutSec 5 `
      -Headers @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '300' }
  } catch {
    Stop-WithError 4 "cannot reach the instance metadata service (IMDSv2) at $Imds"
  }
  $headers = @{ 'X-aws-ec2-metadata-token' = $token }
  try {
    $script:InstanceId = Invoke-RestMethod -UseBasicParsing -Uri "$Imds/latest/meta-data/instance-id" -Headers $headers -TimeoutSec 5
    $script:InstanceRegion = Invoke-RestMethod -UseBasicParsing -Uri "$Imds/latest/meta-data/placement/region" -Headers $headers -TimeoutSec 5
  } catch {
    Stop-WithError 4 'cannot read the instance ID and Region from the instance metadata service'
  }
  if ($script:InstanceId -notmatch '^i-[0-9a-f]{8,17}$' -or $script:InstanceRegion -notmatch $RegionPattern) {
    Stop-WithError 4 'the instance metadata returned an unexpected instance ID or Region'
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

function Test-Agent {
  if (-not (Test-Path -LiteralPath $AgentExe)) { Stop-WithError 3 "the SSM Agent is not installed at $AgentExe" }
  if (-not (Get-Service -Name $AgentService -ErrorAction SilentlyContinue)) { Stop-WithError 3 "the $AgentService service does not exist" }
}

# The agent writes JSON {"ManagedInstanceID": "mi-…", "Region": "…"}; never parse its console output.
# A missing or unreadable file reads as empty fields.
function Read-Registration {
  $fields = [pscustomobject] @{ ManagedInstanceID = ''; Region = '' }
  try {
    $json = Get-Content -LiteralPath $RegistrationFile -Raw | ConvertFrom-Json
    foreach ($name in 'ManagedInstanceID', 'Region') {
      if ($json.PSObject.Properties[$name]) { $fields.$name = [string] $json.$name }
    }
  } catch { Write-Verbose 'no readable registration file' }
  return $fields
}

# The value of one EC2 tag of this instance, or $null when it has no such tag.
function Get-Tag([string] $Key) {
  try {
    $tag = Get-EC2Tag -Region $script:InstanceRegion -Credential $script:Credential -Filter @(
      @{ Name = 'resource-id'; Values = $script:InstanceId }, @{ Name = 'key'; Values = $Key })
  } catch { Stop-WithError 5 "cannot read the tags of $($script:InstanceId) (ec2:DescribeTags)" }
  if ($tag) { return [string] @($tag)[0].Value }
  return $null
}

# Sets one EC2 tag of this instance; an empty value removes it.
function Set-Tag([string] $Key, [string] $Value) {
  $on = @{ Region = $script:InstanceRegion; Credential = $script:Credential; Resource = $script:InstanceId }
  if ($Value) { New-EC2Tag @on -Tag @{ Key = $Key; Value = $Value } } else { Remove-EC2Tag @on -Tag @{ Key = $Key } -Force }
}

function Invoke-Check {
  Test-Inputs
  Import-AwsTools
  Read-Imds
  $id = $script:InstanceId
  Write-Log "instance $id in $($script:InstanceRegion); hub Region $HubRegion"
  if ($null -ne (Get-Tag $OptOutTag)) {
    Write-Log "opted out of hub registration: tag $OptOutTag is set (remove it to register)"
    exit 0
  }
  $reg = Read-Registration
  $mi = $reg.ManagedInstanceID
  if ($mi -match '^mi-[0-9a-f]{17}$' -and $reg.Region -eq $HubRegion -and
    (-not (Test-Path -LiteralPath $Mark) -or (Get-Content -LiteralPath $Mark -Raw).Trim() -eq $id)) {
    # Registering again would orphan the node: a lost or changed tag is only put back.
    $note = 'nothing to do'
    if ((Get-Tag $MiTag) -ne $mi) {
      try { Set-Tag $MiTag $mi } catch { Stop-WithError 5 "cannot tag $id with $MiTag=$mi (ec2:CreateTags)" }
      $note = 'tag restored'
    }
    Write-Log "already registered as $mi in $HubRegion; $note"
    exit 0
  }
  Read-Activation
  $script:ActivationCode = ''
  Test-Agent

  New-Item -ItemType Directory -Path $StateDir -Force | Out-Null
  $worker = Join-Path $StateDir 'register-worker.ps1'
  # The scheduled task starts with SYSTEM's environment, so the settings travel in the file.
  $settings = foreach ($e in Get-ChildItem -Path 'Env:SSM_HUB_*') { "`$env:$($e.Name) = '" + ($e.Value -replace "'", "''") + "'" }
  $body = Get-Content -LiteralPath $PSCommandPath -Raw
  Set-Content -LiteralPath $worker -Value ((@($settings) -join "`r`n") + "`r`n" + $body) -Encoding UTF8

  $powershell = Join-Path $PSHOME 'powershell.exe'
  $action = New-ScheduledTaskAction -Execute $powershell `
    -Argument "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$worker`" -Worker"
  $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
  $taskSettings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit (New-TimeSpan -Minutes 15) `
    -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
  # No trigger: a one-shot task, started right away and replaced (-Force) by the next run.
  Register-ScheduledTask -TaskName $TaskName -Action $action -Principal $principal -Settings $taskSettings -Force | Out-Null
  Start-ScheduledTask -TaskName $TaskName
  Write-Log "registration with $HubRegion scheduled as task $TaskName; progress is logged to $LogFile"
  exit 0
}

# ---- worker ---------------------------------------------------------------------------------

# The hybrid agent copies its (hub role) credentials into the shared AWS credentials file of
# SYSTEM unless the agent config says Profile.ShareCreds false (default true), so other jobs
# would act as the hub. Sets it, after a backup; a new config starts from the package's template.
# Written without a BOM: the agent's JSON parser refuses one.
function Disable-ShareCreds {
  $script:ConfBak = '-'
  $json = $null
  if (Test-Path -LiteralPath $Conf) {
    $script:ConfBak = Join-Path $StateDir 'amazon-ssm-agent.json.bak'
    Copy-Item -LiteralPath $Conf -Destination $script:ConfBak -Force
    $json = Get-Content -LiteralPath $Conf -Raw | ConvertFrom-Json
  } else {
    try { $json = Get-Content -LiteralPath "$Conf.template" -Raw | ConvertFrom-Json } catch { Write-Verbose 'no usable template' }
  }
  if (-not $json) { $json = [pscustomobject] @{} }
  if (-not $json.PSObject.Properties['Profile']) { $json | Add-Member -NotePropertyName Profile -NotePropertyValue ([pscustomobject] @{}) }
  $json.Profile | Add-Member -NotePropertyName ShareCreds -NotePropertyValue $false -Force
  [IO.File]::WriteAllText($Conf, ($json | ConvertTo-Json -Depth 20))
  Write-Log "set Profile.ShareCreds to false in $Conf"
}

function Invoke-Failure([string] $Reason) {
  $ErrorActionPreference = 'Continue'
  Write-Log "ERROR: $Reason"
  if ($script:AgentTouched) {
    Write-Log "clearing the on-prem registration so the instance falls back to its own account's SSM"
    try { Stop-Service -Name $AgentService -Force } catch { Write-Log 'could not stop the agent' }
    $null = & $AgentExe -register -clear 2>&1
    if ($LASTEXITCODE -ne 0) { Write-Log 'amazon-ssm-agent -register -clear failed' }
    if ($script:ConfBak -eq '-') { Remove-Item -LiteralPath $Conf -Force } elseif ($script:ConfBak) { Copy-Item -LiteralPath $script:ConfBak -Destination $Conf -Force }
    if ($script:ConfBak) { Write-Log "restored $Conf" }
    try {
      Restart-Service -Name $AgentService -Force
      Write-Log "agent restarted under the instance's own identity"
    } catch { Write-Log 'could not restart the agent' }
    try { Set-Tag $MiTag '' } catch { Write-Log "could not remove tag $MiTag" }
  }
  if ($script:InstanceId -and $script:Credential) {
    try {
      $text = (((Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ ') + $Reason) -replace '[^A-Za-z0-9 _.:/+@-]', ' ') -replace ' +', ' '
      Set-Tag $ErrorTag $text.Substring(0, [Math]::Min(256, $text.Length))
      Write-Log "recorded the failure in tag $ErrorTag"
    } catch { Write-Log "could not write tag $ErrorTag" }
  }
  Write-Log 'registration failed'
  exit 1
}

# Takes the worker lock, recording its owner: PID and boot time. A lock whose owner is gone or from
# another boot was left by a killed worker (reboot, the task's time limit): it is taken over.
# The boot time (100 ns units) is compared within 2 minutes: it shifts a little when the clock is set.
function Enter-Lock($L) {
  $t = (Get-CimInstance Win32_OperatingSystem).LastBootUpTime.ToFileTime()
  $p, $b = (Get-Content "$L\owner" -ErrorAction Ignore) -as [long[]]
  if ([Math]::Abs($b - $t) -lt 12e8 -and (Get-Process -Id $p -ErrorAction Ignore)) { return $false }
  if (Test-Path $L) { Write-Log 'removing a stale worker lock'; Remove-Item -LiteralPath $L -Recurse -Force }
  # Fails when another worker took the lock in between.
  try { $null = New-Item -ItemType Directory $L } catch { return $false }
  Set-Content "$L\owner" $PID, $t
  $true
}

function Invoke-Worker {
  New-Item -ItemType Directory -Path (Split-Path -Parent $LogFile) -Force | Out-Null
  Test-Inputs
  Write-Log 'worker started'
  $lock = "$StateDir\worker.lock"
  if (!(Enter-Lock $lock)) {
    Write-Log 'another worker is running; leaving it to finish'
    exit 0
  }
  try {
    Import-AwsTools
    Read-Imds
    Read-Activation
    Test-Agent
    $id = $script:InstanceId
    Write-Log "instance $id in $($script:InstanceRegion); activation $($script:ActivationId)"
    Start-Sleep -Seconds ([int] $WorkerDelay)

    $script:AgentTouched = $true
    Write-Log 'stopping the agent'
    try { Stop-Service -Name $AgentService -Force } catch { Invoke-Failure 'could not stop the SSM Agent' }
    Disable-ShareCreds
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
    Write-Log 'starting the agent'
    try { Start-Service -Name $AgentService } catch { Invoke-Failure 'could not start the SSM Agent after registering' }

    $reg = Read-Registration
    $mi = $reg.ManagedInstanceID
    if ($mi -notmatch '^mi-[0-9a-f]{17}$' -or $reg.Region -ne $HubRegion) {
      Invoke-Failure "the registration file $RegistrationFile names no managed node in $HubRegion"
    }
    Write-Log "registered as $mi"
    try { Set-Tag $MiTag $mi } catch { Invoke-Failure "could not tag $id with $MiTag=$mi (ec2:CreateTags)" }
    Set-Content -LiteralPath $Mark -Value $id
    Write-Log "tagged $id with $MiTag=$mi"
    try { Set-Tag $ErrorTag '' } catch { Write-Log "could not remove tag $ErrorTag (ec2:DeleteTags)" }
    Write-Log 'registration complete'
  } catch {
    Invoke-Failure "unexpected error: $($_.Exception.Message)"
  } finally {
    Remove-Item -LiteralPath $lock -Recurse -Force -ErrorAction SilentlyContinue
  }
}

if ($Mode -eq 'worker') { Invoke-Worker } else { Invoke-Check }
