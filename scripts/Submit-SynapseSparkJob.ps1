#Requires -Version 7.0
<#
.SYNOPSIS
    Run one medallion job (preflight, a layer, check or report) as a Synapse Spark batch job and wait for it.

.DESCRIPTION
    Thin wrapper around `medallion submit`, which creates the Livy batch (file = the job, pyFiles = the
    wheel, archives = conf.zip#conf and deps.zip#deps with ./deps on the driver's and executors'
    PYTHONPATH, args, conf, sizes, tags), polls it to a terminal state, prints the driver's stderr and
    stdout from the Spark history server on failure, cancels the batch on timeout, error or signal, and
    emits Azure DevOps logging commands, including the output variable `batchId`.

    Credentials: with SYSTEM_ACCESSTOKEN mapped in the step's env, the CLI uses AzurePipelinesCredential
    and renews its tokens for the whole poll. Otherwise a token for https://dev.azuresynapse.net from the
    signed-in Az context reaches the CLI through MEDALLION_SYNAPSE_TOKEN (never printed, never on a
    command line); it cannot be renewed.

.EXAMPLE
    ./scripts/Submit-SynapseSparkJob.ps1 -WorkspaceName syn-medallion-dev -SparkPoolName medallion35 `
        -Layer bronze -Pipeline orders -Environment dev -WheelName medallion-0.1.0-py3-none-any.whl `
        -ArtifactRoot abfss://artifacts@stmedalliondev.dfs.core.windows.net/medallion/20261126.1

.EXAMPLE
    # against the local stand-in (python -m tests.standins.synapse_livy --storage-root ...)
    $env:MEDALLION_SYNAPSE_TOKEN = '<a JWT for https://dev.azuresynapse.net>'
    ./scripts/Submit-SynapseSparkJob.ps1 -WorkspaceName local -SparkPoolName pool1 -Layer bronze `
        -Pipeline orders -Environment dev -ArtifactRoot abfss://artifacts@acct.dfs.core.windows.net/medallion/1 `
        -WheelName medallion-0.1.0-py3-none-any.whl -Endpoint http://127.0.0.1:8998
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$WorkspaceName,
    [Parameter(Mandatory)][string]$SparkPoolName,
    [Parameter(Mandatory)][ValidateSet('preflight', 'bronze', 'silver', 'gold', 'check', 'report')][string]$Layer,
    [string]$Pipeline,
    [Parameter(Mandatory)][string]$Environment,
    [Parameter(Mandatory)][string]$ArtifactRoot,
    [Parameter(Mandatory)][string]$WheelName,
    [ValidateSet('Small', 'Medium', 'Large', 'XLarge', 'XXLarge')][string]$ExecutorSize = 'Small',
    [ValidateRange(1, 200)][int]$Executors = 2,
    [ValidateRange(1, 1440)][int]$TimeoutMinutes = 60,
    [ValidateRange(1, 600)][int]$PollSeconds = 15,
    [string]$Endpoint,
    [string]$ResourceGroup,
    [string[]]$JobArgument = @(),
    [switch]$NoDependencies,
    [string]$MedallionCommand = 'medallion'
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'MedallionDelivery.psm1') -Force

$submitParameters = @{
    WorkspaceName  = $WorkspaceName
    SparkPoolName  = $SparkPoolName
    Layer          = $Layer
    Environment    = $Environment
    ArtifactRoot   = $ArtifactRoot
    WheelName      = $WheelName
    ExecutorSize   = $ExecutorSize
    Executors      = $Executors
    TimeoutMinutes = $TimeoutMinutes
    PollSeconds    = $PollSeconds
    JobArgument    = $JobArgument
    NoDependencies = $NoDependencies
}
if ($Pipeline) { $submitParameters['Pipeline'] = $Pipeline }
if ($Endpoint) { $submitParameters['Endpoint'] = $Endpoint }
if ($ResourceGroup) { $submitParameters['ResourceGroup'] = $ResourceGroup }
$context = Get-Command -Name 'Get-AzContext' -ErrorAction SilentlyContinue
if ($context) {
    $azContext = Get-AzContext -ErrorAction SilentlyContinue
    if ($azContext -and $azContext.Subscription) { $submitParameters['SubscriptionId'] = [string]$azContext.Subscription.Id }
}
$arguments = Get-MedallionSubmitArgumentList @submitParameters

$token = Get-MedallionHandOverToken -ResourceUrl 'https://dev.azuresynapse.net'
Write-Host "Submitting $Layer $Pipeline ($Environment) to pool $SparkPoolName with $WheelName"
$exitCode = Invoke-MedallionCli -Command $MedallionCommand -ArgumentList $arguments `
    -TokenVariable 'MEDALLION_SYNAPSE_TOKEN' -Token $token
$token = $null
exit $exitCode
