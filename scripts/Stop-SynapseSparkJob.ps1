#Requires -Version 7.0
<#
.SYNOPSIS
    Cancel a Synapse Spark batch: the cleanup step after a cancelled, timed-out or failed job.

.DESCRIPTION
    Thin wrapper around `medallion cancel`, which deletes the batch when it is still running and exits 0
    when it already ended or when no batch id was set (the submit step never created one).

.EXAMPLE
    ./scripts/Stop-SynapseSparkJob.ps1 -WorkspaceName syn-medallion-dev -SparkPoolName medallion35 -BatchId 42
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$WorkspaceName,
    [Parameter(Mandatory)][string]$SparkPoolName,
    [AllowEmptyString()][string]$BatchId = '',
    [string]$Endpoint,
    [string]$MedallionCommand = 'medallion'
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'MedallionDelivery.psm1') -Force

$cancelParameters = @{
    WorkspaceName = $WorkspaceName
    SparkPoolName = $SparkPoolName
    BatchId       = $BatchId
}
if ($Endpoint) { $cancelParameters['Endpoint'] = $Endpoint }
$arguments = Get-MedallionCancelArgumentList @cancelParameters

$token = Get-MedallionHandOverToken -ResourceUrl 'https://dev.azuresynapse.net'
Write-Host "Cleaning up Synapse batch '$BatchId' on pool $SparkPoolName"
$exitCode = Invoke-MedallionCli -Command $MedallionCommand -ArgumentList $arguments `
    -TokenVariable 'MEDALLION_SYNAPSE_TOKEN' -Token $token
$token = $null
exit $exitCode
