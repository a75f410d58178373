# Returns this EC2 instance to its own account's Systems Manager (Windows): the way back.
#
#   (default)  the check, run by Run Command: when the agent is registered with the hub Region,
#              schedule a one-shot scheduled task (SYSTEM) and exit 0 at once (the agent restarts
#              and changes identity, so the result could never be reported otherwise).
#   -Worker    first set the opt-out tag <prefix>registration-opt-out=true (so the hourly
#              registration association does not undo the way back; when it cannot be set the
#              worker stops there, leaving the registration and the agent as they were), then stop
#              the agent, clear the on-prem registration, start the agent (it comes back under the
#              instance profile), remove the managedinstanceid and error tags.
#   An instance that is not registered at all is opted out too, and loses a stale mi- tag.
#
# Inputs (environment; the SSM document sets them):
#   SSM_HUB_REGION (a registration to any other Region is left alone), SSM_HUB_RESERVED_TAG_PREFIX,
#   SSM_HUB_MANAGED_INSTANCE_ID_TAG (default managedinstanceid)
# Overridable: SSM_HUB_IMDS_ENDPOINT, SSM_HUB_AGENT_STATE_DIR, SSM_HUB_STATE_DIR, SSM_HUB_LOG_FILE,
#   SSM_HUB_WORKER_DELAY.
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Set-StrictMode -Version 2.0

$Mode = 'check'
if ($args -contains '-Worker') { $Mode = 'worker' }

function Get-Setting([string] $Name, [string] $Default) {
  $value = [Environment]::GetEnvironmentVariable($Name)
  if ([string]::IsNullOrEmpty($value)) { return $Default }
  return $value
}

$HubRegion = Get-Setting 'SSM_HUB_REGION' ''
$TagPrefix = Get-Setting 'SSM_HUB_RESERVED_TAG_PREFIX' ''
$MiTag = Get-Setting 'SSM_HUB_MANAGED_INSTANCE_ID_TAG' 'managedinstanceid'
$Imds = Get-Setting 'SSM_HUB_IMDS_ENDPOINT' 'http://169.254.169.254'
$AgentStateDir = Get-Setting 'SSM_HUB_AGENT_STATE_DIR' (Join-Path $env:ProgramData 'Amazon\SSM\InstanceData')
$StateDir = Get-Setting 'SSM_HUB_STATE_DIR' (Join-Path $env:ProgramData 'Amazon\SSM\ssm-hub')
$LogFile = Get-Setting 'SSM_HUB_LOG_FILE' (Join-Path $env:ProgramData 'Amazon\SSM\ssm-hub-deregister.log')
$WorkerDelay = Get-Setting 'SSM_HUB_WORKER_DELAY' '10'
$RegistrationFile = Join-Path $AgentStateDir 'registration'
$AgentExe = Join-Path $env:ProgramFiles 'Amazon\SSM\amazon-ssm-agent.exe'
$AgentService = 'AmazonSSMAgent'
$ErrorTag = "${TagPrefix}registration-error"
$OptOutTag = "${TagPrefix}registration-opt-out"
$TaskName = 'ssm-hub-deregister'
$RegionPattern = '^[a-z]{2}(-[a-z]+)+-\d+$'

$script:InstanceId = ''
$script:InstanceRegion = ''
$script:Credential = $null
$script:AgentStopped = $false

function Write-Log([string] $Message) {
  $line = '{0} [{1}] {2}' -f (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ'), $Mode, $Message
  # Straight to stdout (which Run Command captures), never into a function's return value.
  [Console]::Out.WriteLine($line)
  if ($Mode -eq 'worker') {
    try { Add-Content -Path $LogFile -Value $line -Encoding UTF8 } catch { Write-Verbose 'log file not writable' }
  }
}

function Stop-WithError([int] $Status, [string] $Message) {
  if ($Mode -eq 'worker') { Invoke-Failure $Message }
  Write-Log "ERROR: $Message"
  Write-Log 'nothing was changed on this instance'
  exit $Status
}

function Test-Inputs {
  if ($HubRegion -notmatch $RegionPattern) {
    Stop-WithError 2 "SSM_HUB_REGION (document parameter HubRegion) must be a Region name such as eu-west-1, got '$HubRegion'"
  }
  if ([string]::IsNullOrEmpty($TagPrefix)) { Stop-WithError 2 'SSM_HUB_RESERVED_TAG_PREFIX is not set' }
  if ($WorkerDelay -notmatch '^\d+$') { Stop-WithError 2 'SSM_HUB_WORKER_DELAY must be a whole number of seconds' }
}

function Import-AwsTools {
  $modular = @(Get-Module -ListAvailable -Name 'AWS.Tools.EC2')
  if ($modular.Count -ge 1) {
    Import-Module -Name 'AWS.Tools.EC2'
  } elseif (Get-Module -ListAvailable -Name 'AWSPowerShell') {
    Import-Module -Name 'AWSPowerShell'
  } else {
    Stop-WithError 3 'AWS Tools for PowerShell is not installed (module AWS.Tools.EC2, or AWSPowerShell); install it to update the instance tags'
  }
  # Act as the instance's own role, never as the hybrid credentials the agent may have shared.
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
  if ($script:InstanceId -notmatch '^i-[0-9a-f]{8,17}$') { Stop-WithError 4 'the instance metadata returned an unexpected instance ID' }
  if ($script:InstanceRegion -notmatch $RegionPattern) { Stop-WithError 4 'the instance metadata returned an unexpected Region' }
}

function Test-Agent {
  if (-not (Test-Path -LiteralPath $AgentExe)) { Stop-WithError 3 "the SSM Agent is not installed at $AgentExe" }
  if (-not (Get-Service -Name $AgentService -ErrorAction SilentlyContinue)) { Stop-WithError 3 "the $AgentService service does not exist" }
}

function Read-Registration {
  $fields = @{ ManagedInstanceID = ''; Region = '' }
  if (Test-Path -LiteralPath $RegistrationFile) {
    $text = Get-Content -LiteralPath $RegistrationFile -Raw
    if (-not [string]::IsNullOrWhiteSpace($text)) {
      try {
        $json = $text | ConvertFrom-Json
        foreach ($name in @('ManagedInstanceID', 'Region')) {
          $prop = $json.PSObject.Properties[$name]
          if ($prop) { $fields[$name] = [string] $prop.Value }
        }
      } catch { Write-Log 'the registration file is not JSON; treating the agent as not registered' }
    }
  }
  return [pscustomobject] $fields
}

function Set-OptOut {
  New-EC2Tag -Region $script:InstanceRegion -Credential $script:Credential -Resource $script:InstanceId -Tag @{ Key = $OptOutTag; Value = 'true' }
}

function Remove-InstanceTag([string] $Key) {
  Remove-EC2Tag -Region $script:InstanceRegion -Credential $script:Credential -Resource $script:InstanceId -Tag @{ Key = $Key } -Force
}

function ConvertTo-TagSafe([string] $Text) {
  $safe = ($Text -replace '[^A-Za-z0-9 _.:/+@-]', ' ') -replace ' +', ' '
  if ($safe.Length -gt 256) { $safe = $safe.Substring(0, 256) }
  return $safe
}

function ConvertTo-Literal([string] $Value) { return "'" + ($Value -replace "'", "''") + "'" }

function Invoke-Check {
  Test-Inputs
  Import-AwsTools
  Read-Imds
  $reg = Read-Registration
  if (-not $reg.ManagedInstanceID) {
    # Nothing to undo in the agent, but the way back must hold: opt out of the hourly
    # registration. A stale tag would still mislead the collector.
    try { Set-OptOut } catch { Stop-WithError 5 "cannot tag $($script:InstanceId) with $OptOutTag=true (ec2:CreateTags)" }
    try { Remove-InstanceTag $MiTag } catch { Stop-WithError 5 "cannot remove tag $MiTag from $($script:InstanceId) (ec2:DeleteTags)" }
    Write-Log "not registered with any hub; opted out of hub registration (tag $OptOutTag=true)"
    exit 0
  }
  if ($reg.Region -ne $HubRegion) {
    Write-Log "registered as $($reg.ManagedInstanceID) with Region '$($reg.Region)', not the hub Region $HubRegion; left alone"
    exit 0
  }
  Test-Agent
  Start-Worker $reg.ManagedInstanceID
}

function Start-Worker([string] $ManagedInstanceId) {
  New-Item -ItemType Directory -Path $StateDir -Force | Out-Null
  $worker = Join-Path $StateDir 'deregister-worker.ps1'
  $settings = foreach ($name in 'SSM_HUB_REGION', 'SSM_HUB_RESERVED_TAG_PREFIX', 'SSM_HUB_MANAGED_INSTANCE_ID_TAG',
    'SSM_HUB_IMDS_ENDPOINT', 'SSM_HUB_AGENT_STATE_DIR', 'SSM_HUB_STATE_DIR', 'SSM_HUB_LOG_FILE', 'SSM_HUB_WORKER_DELAY') {
    $value = [Environment]::GetEnvironmentVariable($name)
    if ($null -ne $value) { '$env:{0} = {1}' -f $name, (ConvertTo-Literal $value) }
  }
  $body = Get-Content -LiteralPath $PSCommandPath -Raw
  Set-Content -LiteralPath $worker -Value (($settings -join "`r`n") + "`r`n" + $body) -Encoding UTF8

  $powershell = Join-Path $PSHOME 'powershell.exe'
  $action = New-ScheduledTaskAction -Execute $powershell `
    -Argument "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$worker`" -Worker"
  $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest
  $taskSettings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit (New-TimeSpan -Minutes 15) `
    -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
  Register-ScheduledTask -TaskName $TaskName -Action $action -Principal $principal -Settings $taskSettings -Force | Out-Null
  Start-ScheduledTask -TaskName $TaskName
  Write-Log "deregistration of $ManagedInstanceId scheduled as task $TaskName; progress is logged to $LogFile"
  exit 0
}

function Invoke-Failure([string] $Reason) {
  $ErrorActionPreference = 'Continue'
  Write-Log "ERROR: $Reason"
  # Only an agent this worker stopped is started again: before that, nothing was changed.
  if ($script:AgentStopped) {
    try { Start-Service -Name $AgentService } catch { Write-Log 'could not start the agent' }
  }
  if ($script:InstanceId -and $script:Credential) {
    try {
      $stamp = (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ')
      New-EC2Tag -Region $script:InstanceRegion -Credential $script:Credential -Resource $script:InstanceId `
        -Tag @{ Key = $ErrorTag; Value = (ConvertTo-TagSafe "$stamp deregistration: $Reason") }
    } catch { Write-Log "could not write tag $ErrorTag" }
  }
  Write-Log 'deregistration failed'
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
    Test-Agent
    Write-Log "instance $($script:InstanceId) in $($script:InstanceRegion); was $((Read-Registration).ManagedInstanceID)"
    Start-Sleep -Seconds ([int] $WorkerDelay)
    # First, before anything changes: once the registration is cleared, a missing opt-out tag would let
    # the hourly registration association register the instance again. Fails with nothing changed.
    try { Set-OptOut } catch {
      Invoke-Failure "could not tag $($script:InstanceId) with $OptOutTag=true (ec2:CreateTags); the registration and the agent were left unchanged"
    }
    Write-Log "opted out of hub registration: tag $OptOutTag=true (remove it to register again)"
    Write-Log 'stopping the agent'
    $script:AgentStopped = $true
    try { Stop-Service -Name $AgentService -Force } catch { Invoke-Failure 'could not stop the SSM Agent' }
    Write-Log 'clearing the on-prem registration'
    # Windows PowerShell turns a native command's stderr into errors under 'Stop': relax it here.
    $null = & {
      $ErrorActionPreference = 'Continue'
      & $AgentExe -register -clear 2>&1
    }
    if ($LASTEXITCODE -ne 0) { Invoke-Failure 'amazon-ssm-agent -register -clear failed' }
    Remove-Item -LiteralPath $RegistrationFile -Force -ErrorAction SilentlyContinue
    Write-Log "starting the agent under the instance's own identity"
    try { Start-Service -Name $AgentService } catch { Invoke-Failure 'could not start the SSM Agent' }
    Remove-Item -LiteralPath (Join-Path $StateDir 'registered-instance') -Force -ErrorAction SilentlyContinue
    try { Remove-InstanceTag $MiTag } catch { Invoke-Failure "could not remove tag $MiTag (ec2:DeleteTags)" }
    try { Remove-InstanceTag $ErrorTag } catch { Write-Log "could not remove tag $ErrorTag" }
    Write-Log "deregistration complete; the instance is managed by its own account's Systems Manager again"
  } catch {
    Invoke-Failure "unexpected error: $($_.Exception.Message)"
  } finally {
    Remove-Item -LiteralPath $lock -Recurse -Force -ErrorAction SilentlyContinue
  }
}

if ($Mode -eq 'worker') { Invoke-Worker } else { Invoke-Check }
