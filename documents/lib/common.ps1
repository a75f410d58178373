# Shared by register-windows.ps1 and deregister-windows.ps1: the build puts this text in place of
# each script's line "# @include lib/common.ps1" (documents/index.ts joinScript). The including
# script sets $Job ('register' or 'deregister') first. Agent paths are those of
# agent/appconfig/constants_windows.go (github aws/amazon-ssm-agent).
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
$TagPrefix = Get-Setting 'RESERVED_TAG_PREFIX'
$MiTag = Get-Setting 'MANAGED_INSTANCE_ID_TAG' 'managedinstanceid'
$Imds = Get-Setting 'IMDS_ENDPOINT' 'http://169.254.169.254'
# SSMDataPath; DefaultDataStorePath is its InstanceData; RuntimeConfigFolderPath its runtimeconfig.
$SsmData = Get-Setting 'SSM_DATA_DIR' "$env:ProgramData\Amazon\SSM"
$AgentStateDir = Get-Setting 'AGENT_STATE_DIR' "$SsmData\InstanceData"
$StateDir = Get-Setting 'STATE_DIR' "$SsmData\ssm-hub"
$LogFile = Get-Setting 'LOG_FILE' "$SsmData\ssm-hub-$Job.log"
$WorkerDelay = Get-Setting 'WORKER_DELAY' '10'
$IdentityWait = Get-Setting 'IDENTITY_WAIT' '180'
$RegistrationFile = "$AgentStateDir\registration"
# The OnPrem registration: vault key RegistrationKey (agent/managedInstances/vault/fsvault/fsvault.go,
# registration/instance_info.go: JSON instanceID, region, privateKey).
$Vault = "$AgentStateDir\Vault\Store\RegistrationKey"
# The identity the running agent chose (common/runtimeconfig/identity_runtimeconfig.go, written at
# start by core/agent.go through core/app/runtimeconfiginit).
$IdentityConfig = "$SsmData\runtimeconfig\identity_config.json"
$AgentExe = "$env:ProgramFiles\Amazon\SSM\amazon-ssm-agent.exe"
$Conf = "$env:ProgramFiles\Amazon\SSM\amazon-ssm-agent.json"
$AgentService = 'AmazonSSMAgent'
$ErrorTag = "${TagPrefix}registration-error"
$OptOutTag = "${TagPrefix}registration-opt-out"
# The instance ID the register worker last registered: a copied image carries the agent's
# registration but not a matching marker, and must register as a node of its own.
$Mark = "$StateDir\registered-instance"
# Present from the moment the register worker may change the agent until its registration is
# complete (tagged) or undone; holds its config backup, for the guard task (Invoke-Guard).
$Pending = "$StateDir\pending"
# Seconds a deregistration worker waits for a register worker holding the lock (8 minutes: longer
# than a register worker's run, shorter than the task's 15-minute limit).
$LockWait = Get-Setting 'LOCK_WAIT' '480'
$TaskPrefix = "ssm-hub-$Job"
$TaskMinutes = 15
$StopSeconds = 60
$RegionPattern = '^[a-z]{2}(-[a-z]+)+-\d+$'
$ProxyVars = 'https_proxy', 'http_proxy', 'no_proxy'

$script:InstanceId = ''
$script:InstanceRegion = ''
$script:Credential = $null
$script:AgentStopped = $false
$script:Lock = $null
$script:Guard = ''

function Write-Log([string] $Message) {
  $line = '{0} [{1}] {2}' -f (Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ'), $Mode, $Message
  # Straight to stdout (which Run Command captures), never into a function's return value.
  [Console]::Out.WriteLine($line)
  if ($Mode -eq 'worker') {
    try { Add-Content -Path $LogFile -Value $line -Encoding UTF8 } catch { Write-Verbose 'log file not writable' }
  }
}

# The check fails before anything changed: clear message, non-zero exit. The worker also records
# the failure (and undoes a half-done change) through its Invoke-Failure.
function Stop-WithError([int] $Status, [string] $Message) {
  if ($Mode -eq 'worker') { Invoke-Failure $Message }
  Write-Log "ERROR: $Message; nothing was changed on this instance"
  exit $Status
}

function Test-Inputs {
  if ($HubRegion -notmatch $RegionPattern) {
    Stop-WithError 2 "SSM_HUB_REGION (document parameter HubRegion) must be a Region name such as eu-west-1, got '$HubRegion'"
  }
  if (-not $TagPrefix) { Stop-WithError 2 'SSM_HUB_RESERVED_TAG_PREFIX is not set' }
  if ($WorkerDelay -notmatch '^\d{1,3}$') { Stop-WithError 2 'SSM_HUB_WORKER_DELAY must be a whole number of seconds (0-999)' }
  if ($IdentityWait -notmatch '^\d{1,3}$') { Stop-WithError 2 'SSM_HUB_IDENTITY_WAIT must be a whole number of seconds (0-999)' }
  if ($LockWait -notmatch '^\d{1,3}$') { Stop-WithError 2 'SSM_HUB_LOCK_WAIT must be a whole number of seconds (0-999)' }
}

# AWS Tools for PowerShell: the modular AWS.Tools.* modules, or the AWSPowerShell bundle that
# Windows Server AMIs ship with.
function Import-AwsTools([string[]] $Modules) {
  if (@(Get-Module -ListAvailable -Name $Modules).Count -ge $Modules.Count) {
    Import-Module -Name $Modules
  } elseif (Get-Module -ListAvailable -Name 'AWSPowerShell') {
    Import-Module -Name 'AWSPowerShell'
  } else {
    Stop-WithError 3 "AWS Tools for PowerShell is not installed ($($Modules -join ' and '), or AWSPowerShell)"
  }
  # The hybrid agent may share the central account's credentials in a profile; every call here
  # must act as the instance's own role, so the instance-profile credentials are passed explicitly.
  $script:Credential = New-Object -TypeName Amazon.Runtime.InstanceProfileAWSCredentials
}

# The agent's proxy: the service's registry Environment value (REG_MULTI_SZ name=value lines, read
# by Go's net/http ProxyFromEnvironment in the agent), unless the environment Run Command passed
# (the agent's own) already has it. A scheduled task has neither, so it is set in this process for
# amazon-ssm-agent.exe -register, and given to the AWS Tools, which do not read these variables.
function Use-Proxy {
  try { $lines = @((Get-ItemProperty -LiteralPath "HKLM:\SYSTEM\CurrentControlSet\Services\$AgentService" -Name Environment).Environment) } catch { $lines = @() }
  foreach ($line in $lines) {
    $name, $value = "$line" -split '=', 2
    if ($ProxyVars -contains $name -and -not (Get-Item "Env:$name" -ErrorAction Ignore)) { Set-Item "Env:$name" $value }
  }
  $proxy = @($env:https_proxy, $env:http_proxy) -match '.' | Select-Object -First 1
  if (-not $proxy) { return }
  try { $uri = [uri] ($proxy -replace '^(?!\w+://)', 'http://') } catch { Stop-WithError 2 'the agent proxy setting (https_proxy or http_proxy) is not a URL' }
  # no_proxy hosts as .NET bypass patterns, matched against scheme://host[:port].
  $bypass = @("$env:no_proxy" -split ',' | ForEach-Object { $_.Trim().TrimStart('*.') } | Where-Object { $_ } |
      ForEach-Object { '[/.]' + [regex]::Escape($_) + '(:\d+)?$' })
  $more = @{}
  if ($bypass) { $more.BypassList = $bypass }
  Set-AWSProxy -Hostname $uri.Host -Port $uri.Port -Scope Global @more
  Write-Log "AWS calls go through the proxy $($uri.Host):$($uri.Port)"
}

# IMDS is link-local: never through a proxy (Invoke-RestMethod would take the environment's or
# the system's).
function Invoke-Imds([string] $Method, [string] $Path, [hashtable] $Headers) {
  $request = [Net.WebRequest]::Create("$Imds$Path")
  $request.Method = $Method
  $request.Proxy = $null
  $request.Timeout = 5000
  $request.ReadWriteTimeout = 5000
  foreach ($k in $Headers.Keys) { $request.Headers[$k] = $Headers[$k] }
  if ($Method -eq 'PUT') { $request.ContentLength = 0 }
  $response = $request.GetResponse()
  try { return (New-Object IO.StreamReader $response.GetResponseStream()).ReadToEnd() } finally { $response.Close() }
}

function Read-Imds {
  try {
    $token = Invoke-Imds 'PUT' '/latest/api/token' @{ 'X-aws-ec2-metadata-token-ttl-seconds' = '300' }
    $headers = @{ 'X-aws-ec2-metadata-token' = $token }
    $script:InstanceId = Invoke-Imds 'GET' '/latest/meta-data/instance-id' $headers
    $script:InstanceRegion = Invoke-Imds 'GET' '/latest/meta-data/placement/region' $headers
  } catch {
    Stop-WithError 4 "cannot read the instance ID and Region from the instance metadata service (IMDSv2) at $Imds"
  }
  if ($script:InstanceId -notmatch '^i-[0-9a-f]{8,17}$' -or $script:InstanceRegion -notmatch $RegionPattern) {
    Stop-WithError 4 'the instance metadata returned an unexpected instance ID or Region'
  }
}

function Test-Agent {
  if (-not (Test-Path -LiteralPath $AgentExe)) { Stop-WithError 3 "the SSM Agent is not installed at $AgentExe" }
  if (-not (Get-Service -Name $AgentService -ErrorAction SilentlyContinue)) { Stop-WithError 3 "the $AgentService service does not exist" }
}

# A JSON file as an object, or $null when it is missing or not JSON.
function Read-Json([string] $Path) {
  try { return Get-Content -LiteralPath $Path -Raw | ConvertFrom-Json } catch { return $null }
}

# One field as text ('' when absent); names match case-insensitively, as Go's encoding/json does.
function Get-Field($Object, [string] $Name) {
  if ($Object -and $Object.PSObject.Properties[$Name]) { return [string] $Object.PSObject.Properties[$Name].Value }
  return ''
}

# The OnPrem registration in the vault: Id '' when there is none (-register -clear stores empty
# fields: core/agent_parser.go clearRegistration; registration/instance_info.go
# HasManagedInstancesCredentials wants ID, Region and private key).
function Read-OnPremNode {
  $v = Read-Json $Vault
  $node = [pscustomobject] @{ Id = (Get-Field $v 'instanceID'); Region = (Get-Field $v 'region') }
  if ($node.Id -notmatch '^mi-[0-9a-f]{17}$' -or -not (Get-Field $v 'privateKey')) { $node.Id = '' }
  return $node
}

# The hub node the agent runs as, or ''. Never the registration file: -register -clear leaves it
# behind (clearRegistration only empties the vault). The vault must hold a hub registration and
# the running agent must have chosen it (identity_config.json: IdentityType OnPrem, same ID).
function Get-HubNode {
  $node = Read-OnPremNode
  $used = Read-Json $IdentityConfig
  if ($node.Id -and $node.Region -eq $HubRegion -and (Get-Field $used 'IdentityType') -eq 'OnPrem' -and
    (Get-Field $used 'InstanceId') -eq $node.Id) { return $node.Id }
  return ''
}

# The value of one EC2 tag of this instance: $null when it has no such tag, '' when it was cleared.
# Throws when the tags cannot be read.
function Read-Tag([string] $Key) {
  $tag = Get-EC2Tag -Region $script:InstanceRegion -Credential $script:Credential -ErrorAction Stop -Filter @(
    @{ Name = 'resource-id'; Values = $script:InstanceId }, @{ Name = 'key'; Values = $Key })
  if ($tag) { return [string] @($tag)[0].Value }
  return $null
}

# Read-Tag, or a clear error (nothing changed yet) when the tags cannot be read.
function Get-Tag([string] $Key) {
  try { return Read-Tag $Key } catch { Stop-WithError 5 "cannot read the tags of $($script:InstanceId) (ec2:DescribeTags)" }
}

# Sets one EC2 tag of this instance (ec2:CreateTags, tied to the caller). Value '' clears it: EC2
# keeps a tag with an empty value (CreateTags, Tag.N), which every reader here and the collector
# take as no tag. The role has no ec2:DeleteTags: no IAM key ties it to the caller's instance.
function Set-Tag([string] $Key, [string] $Value) {
  $on = @{ Region = $script:InstanceRegion; Credential = $script:Credential; Resource = $script:InstanceId; ErrorAction = 'Stop' }
  New-EC2Tag @on -Tag @{ Key = $Key; Value = $Value }
}

# Clears one tag when it holds a value (or cannot be read): one the instance does not carry is not
# added. Throws when the write fails.
function Clear-Tag([string] $Key) {
  try { $value = Read-Tag $Key } catch { $value = '?' }
  if ($value) { Set-Tag $Key '' }
}

# Set-Tag, tried 5 times with backoff (2, 4, 8, 16 s); $false when every try failed.
function Set-TagPatiently([string] $Key, [string] $Value) {
  for ($try = 1; $try -le 5; $try++) {
    try { Set-Tag $Key $Value; return $true } catch {
      Write-Log "tag ${Key}: try $try failed: $($_.Exception.Message)"
      if ($try -lt 5) { Start-Sleep -Seconds ([Math]::Pow(2, $try)) }
    }
  }
  return $false
}

function Write-ErrorTag([string] $Reason) {
  if (-not ($script:InstanceId -and $script:Credential)) { return }
  $text = ((Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ ') + "${Job}: $Reason") -replace '[^A-Za-z0-9 _.:/+@-]', ' '
  $text = $text -replace ' +', ' '
  try {
    Set-Tag $ErrorTag $text.Substring(0, [Math]::Min(256, $text.Length))
    Write-Log "recorded the failure in tag $ErrorTag"
  } catch { Write-Log "could not write tag $ErrorTag" }
}

# Bounded both ways (Stop-Service and Start-Service wait without a limit). A stop that does not
# end in time is forced by ending the service's process and its ssm-agent-worker.
function Set-AgentState([string] $State) {
  $svc = Get-Service -Name $AgentService
  if ($State -eq 'Stopped') {
    $script:AgentStopped = $true
    if ($svc.Status -ne 'Stopped') { try { $svc.Stop() } catch { Write-Log "stop request: $($_.Exception.Message)" } }
    try { $svc.WaitForStatus('Stopped', [TimeSpan]::FromSeconds($StopSeconds)) } catch {
      Write-Log "the agent did not stop within $StopSeconds s; ending its processes"
      $agentPid = (Get-CimInstance -ClassName Win32_Service -Filter "Name='$AgentService'").ProcessId
      Get-Process -Name 'ssm-agent-worker' -ErrorAction SilentlyContinue | Stop-Process -Force -ErrorAction SilentlyContinue
      if ($agentPid) { Stop-Process -Id $agentPid -Force -ErrorAction SilentlyContinue }
      $svc.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
    }
  } else {
    if ($svc.Status -eq 'Stopped') { $svc.Start() }
    $svc.WaitForStatus('Running', [TimeSpan]::FromSeconds(60))
    $script:AgentStopped = $false
  }
}

# -register -clear empties the vault but keeps the registration file (core/agent_parser.go
# clearRegistration): it goes too, with the marker, so no later check reads a dead node.
function Clear-Registration {
  $null = & {
    $ErrorActionPreference = 'Continue'
    & $AgentExe -register -clear 2>&1
  }
  $cleared = $LASTEXITCODE -eq 0
  Remove-Item -LiteralPath $RegistrationFile, $Mark -Force -ErrorAction SilentlyContinue
  return $cleared
}

function New-TaskPrincipal { New-ScheduledTaskPrincipal -UserId 'SYSTEM' -LogonType ServiceAccount -RunLevel Highest }

# The task's time limit ends the worker without its finally block: this one-shot task, a minute
# after that limit, runs a copy of the worker's file with -Guard (Invoke-Guard), then deletes itself.
function Register-Guard {
  $script:Guard = 'ssm-hub-guard-' + [IO.Path]::GetFileNameWithoutExtension($PSCommandPath)
  $file = "$StateDir\$($script:Guard).ps1"
  Copy-Item -LiteralPath $PSCommandPath -Destination $file -Force
  $at = (Get-Date).AddMinutes($TaskMinutes + 1)
  $trigger = New-ScheduledTaskTrigger -Once -At $at
  $trigger.EndBoundary = $at.AddMinutes(30).ToString('s')
  $action = New-ScheduledTaskAction -Execute "$PSHOME\powershell.exe" -Argument "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$file`" -Worker -Guard"
  $settings = New-ScheduledTaskSettingsSet -DeleteExpiredTaskAfter (New-TimeSpan -Minutes 1) -StartWhenAvailable `
    -ExecutionTimeLimit (New-TimeSpan -Minutes $TaskMinutes) -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries
  Register-ScheduledTask -TaskName $script:Guard -Action $action -Trigger $trigger -Principal (New-TaskPrincipal) -Settings $settings -Force | Out-Null
}

# The guard task's run: the worker was killed (its finally removes the task). Under the lock, the
# including script's Invoke-Rescue undoes what the worker left unfinished; the agent runs again.
function Invoke-Guard {
  Write-Log 'guard: the worker did not finish within its time limit'
  if (-not (Enter-Lock)) {
    Write-Log 'another worker is running; leaving it to finish'
    exit 0
  }
  try { Invoke-Rescue } catch { Write-Log "guard: $($_.Exception.Message)" } finally {
    try { Set-AgentState 'Running' } catch { Write-Log 'could not start the agent' }
    $script:Lock.Dispose()
    Remove-Item -LiteralPath $PSCommandPath -Force -ErrorAction SilentlyContinue
  }
}

# In the worker's finally: an agent this worker stopped runs again; the guard goes only then.
function Restore-Agent {
  if ($script:AgentStopped) {
    try { Set-AgentState 'Running'; Write-Log 'agent started again' } catch { Write-Log "could not start the agent; task $($script:Guard) tries again"; return }
  }
  if ($script:Guard) {
    try { Unregister-ScheduledTask -TaskName $script:Guard -Confirm:$false } catch { Write-Log "could not remove task $($script:Guard)" }
    Remove-Item -LiteralPath "$StateDir\$($script:Guard).ps1" -Force -ErrorAction SilentlyContinue
  }
}

# The worker lock: a file held open without write sharing while the worker runs. Taking it and
# writing the owner go through the one handle the open returns, and Windows closes that handle when
# the process ends however it ends (the task's time limit too), so a lock is never stale.
# Register and deregister workers share it.
function Enter-Lock {
  try { $script:Lock = [IO.File]::Open("$StateDir\worker.lck", 'OpenOrCreate', 'ReadWrite', 'Read') } catch { return $false }
  $owner = [Text.Encoding]::UTF8.GetBytes("$PID $Job $(Get-Date -Format o)")
  $script:Lock.SetLength(0)
  $script:Lock.Write($owner, 0, $owner.Length)
  $script:Lock.Flush()
  return $true
}

# The worker: the including script's Initialize-Worker (AWS Tools, proxy, IMDS: a failure can then
# be recorded in the error tag), the lock (held by another worker: the script's Wait-Lock), the work.
function Invoke-Worker([scriptblock] $Work) {
  New-Item -ItemType Directory -Path $StateDir -Force | Out-Null
  Test-Inputs
  Write-Log 'worker started'
  try { Initialize-Worker } catch { Invoke-Failure "unexpected error: $($_.Exception.Message)" }
  if (-not (Enter-Lock)) { Wait-Lock }
  try { & $Work } catch { Invoke-Failure "unexpected error: $($_.Exception.Message)" } finally {
    Restore-Agent
    $script:Lock.Dispose()
    Remove-Item -LiteralPath $PSCommandPath -Force -ErrorAction SilentlyContinue
  }
}

function ConvertTo-Literal([string] $Value) { return "'" + ($Value -replace "'", "''") + "'" }

# Detaches the worker as a one-shot SYSTEM scheduled task and exits 0: the agent running this
# command restarts and changes identity, so its result could never be reported otherwise.
function Start-Worker([string] $What) {
  New-Item -ItemType Directory -Path $StateDir -Force | Out-Null
  foreach ($t in @(Get-ScheduledTask -TaskName "$TaskPrefix-*" -ErrorAction SilentlyContinue)) {
    if ($t.State -ne 'Running') {
      Unregister-ScheduledTask -TaskName $t.TaskName -Confirm:$false
      Remove-Item -LiteralPath "$StateDir\$($t.TaskName).ps1" -Force -ErrorAction SilentlyContinue
    }
  }
  # A name of its own per run: a rerun never replaces a running worker's task or file.
  $task = '{0}-{1}-{2}' -f $TaskPrefix, (Get-Date).ToUniversalTime().ToString('yyyyMMddHHmmss'), [guid]::NewGuid().ToString('N').Substring(0, 8)
  $worker = "$StateDir\$task.ps1"
  # The task starts with SYSTEM's environment: the settings and the proxy travel in the file.
  $settings = foreach ($e in Get-ChildItem -Path 'Env:') {
    if ($e.Name -like 'SSM_HUB_*' -or $ProxyVars -contains $e.Name) { '$env:{0} = {1}' -f $e.Name, (ConvertTo-Literal $e.Value) }
  }
  # Written beside it and renamed into place: the task never starts a half-written file.
  Set-Content -LiteralPath "$worker.tmp" -Value ((@($settings) -join "`r`n") + "`r`n" + (Get-Content -LiteralPath $PSCommandPath -Raw)) -Encoding UTF8
  Move-Item -LiteralPath "$worker.tmp" -Destination $worker -Force
  $action = New-ScheduledTaskAction -Execute "$PSHOME\powershell.exe" `
    -Argument "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$worker`" -Worker"
  $taskSettings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit (New-TimeSpan -Minutes $TaskMinutes) `
    -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
  Register-ScheduledTask -TaskName $task -Action $action -Principal (New-TaskPrincipal) -Settings $taskSettings -Force | Out-Null
  Start-ScheduledTask -TaskName $task
  Write-Log "$What scheduled as task $task; progress is logged to $LogFile"
  exit 0
}
