#Requires -Version 7.0
<#
.SYNOPSIS
    Run one medallion layer (or `check`, the post-run data-quality checks) as a Synapse Spark batch job
    and wait for it.

.DESCRIPTION
    Thin wrapper around `medallion submit`, which creates the Livy batch (file = the layer's job,
    pyFiles = the wheel, archives = conf.zip#conf, args, conf, sizes, tags), polls it to a terminal state,
    prints the job's log lines on failure, cancels the batch (DELETE) when the timeout passes and emits
    Azure DevOps logging commands, including the output variable `batchId`.

    Inside AzurePowerShell@5 the bearer token for https://dev.azuresynapse.net comes from the signed-in
    Az context and reaches the CLI through the MEDALLION_SYNAPSE_TOKEN environment variable of that one
    process; it is never printed or put on a command line. Elsewhere the CLI uses DefaultAzureCredential.

.EXAMPLE
    ./scripts/Submit-SynapseSparkJob.ps1 -WorkspaceName syn-medallion-dev -SparkPoolName medallion35 `
        -Layer bronze -Pipeline orders -Environment dev `
        -ArtifactRoot abfss://artifacts@stmedalliondev.dfs.core.windows.net/medallion/20261126.1

.EXAMPLE
    # against the local stand-in (python -m tests.standins.synapse_livy --storage-root ...)
    $env:MEDALLION_SYNAPSE_TOKEN = 'local'
    ./scripts/Submit-SynapseSparkJob.ps1 -WorkspaceName local -SparkPoolName pool1 -Layer bronze `
        -Pipeline orders -Environment dev -ArtifactRoot abfss://artifacts@acct.dfs.core.windows.net/medallion/1 `
        -Endpoint http://127.0.0.1:8998
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$WorkspaceName,
    [Parameter(Mandatory)][string]$SparkPoolName,
    [Parameter(Mandatory)][ValidateSet('bronze', 'silver', 'gold', 'check')][string]$Layer,
    [Parameter(Mandatory)][string]$Pipeline,
    [Parameter(Mandatory)][string]$Environment,
    [Parameter(Mandatory)][string]$ArtifactRoot,
    [ValidateSet('Small', 'Medium', 'Large', 'XLarge', 'XXLarge')][string]$ExecutorSize = 'Small',
    [ValidateRange(1, 200)][int]$Executors = 2,
    [ValidateRange(1, 1440)][int]$TimeoutMinutes = 60,
    [ValidateRange(1, 600)][int]$PollSeconds = 15,
    [string]$Endpoint,
    [string]$WheelName,
    [string]$MedallionCommand = 'medallion'
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'MedallionDelivery.psm1') -Force

$submitParameters = @{
    WorkspaceName  = $WorkspaceName
    SparkPoolName  = $SparkPoolName
    Layer          = $Layer
    Pipeline       = $Pipeline
    Environment    = $Environment
    ArtifactRoot   = $ArtifactRoot
    ExecutorSize   = $ExecutorSize
    Executors      = $Executors
    TimeoutMinutes = $TimeoutMinutes
    PollSeconds    = $PollSeconds
}
if ($Endpoint) { $submitParameters['Endpoint'] = $Endpoint }
if ($WheelName) { $submitParameters['WheelName'] = $WheelName }
$arguments = Get-MedallionSubmitArgumentList @submitParameters

$token = Get-MedallionAccessToken -ResourceUrl 'https://dev.azuresynapse.net'
Write-Host "Submitting $Layer for pipeline $Pipeline ($Environment) to pool $SparkPoolName"
$exitCode = Invoke-MedallionCli -Command $MedallionCommand -ArgumentList $arguments `
    -TokenVariable 'MEDALLION_SYNAPSE_TOKEN' -Token $token
$token = $null
exit $exitCode
