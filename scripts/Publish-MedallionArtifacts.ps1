#Requires -Version 7.0
<#
.SYNOPSIS
    Publish the wheel, jobs/ and conf/ to ADLS Gen2 under a versioned folder.

.DESCRIPTION
    Thin wrapper around `medallion publish`, which uploads into a staging folder and renames it into
    place (a job never sees half an upload) and sets the output variables `artifactRoot` and `wheelName`
    that every later stage reads. deps.zip (from `medallion deps`) is taken from -DistDirectory.
    With SYSTEM_ACCESSTOKEN mapped in the step, the CLI signs in with AzurePipelinesCredential;
    otherwise the storage token comes from the signed-in Az context through the MEDALLION_STORAGE_TOKEN
    environment variable of that one process; it is never printed.

.EXAMPLE
    ./scripts/Publish-MedallionArtifacts.ps1 -Target abfss://artifacts@stmedalliondev.dfs.core.windows.net/medallion `
        -Version 20261126.1 -DistDirectory dist
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)][string]$Target,
    [Parameter(Mandatory)][string]$Version,
    [string]$WheelPath,
    [string]$DistDirectory = 'dist',
    [string]$JobsDirectory = 'jobs',
    [string]$ConfDirectory = 'conf',
    [switch]$Overwrite,
    [string]$MedallionCommand = 'medallion'
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

Import-Module -Name (Join-Path -Path $PSScriptRoot -ChildPath 'MedallionDelivery.psm1') -Force

$publishParameters = @{
    Target        = $Target
    Version       = $Version
    DistDirectory = $DistDirectory
    JobsDirectory = $JobsDirectory
    ConfDirectory = $ConfDirectory
    Overwrite     = $Overwrite
}
if ($WheelPath) { $publishParameters['WheelPath'] = $WheelPath }
$arguments = Get-MedallionPublishArgumentList @publishParameters

$token = Get-MedallionHandOverToken -ResourceUrl 'https://storage.azure.com'
Write-Host "Publishing medallion $Version to $Target"
$exitCode = Invoke-MedallionCli -Command $MedallionCommand -ArgumentList $arguments `
    -TokenVariable 'MEDALLION_STORAGE_TOKEN' -Token $token
$token = $null
exit $exitCode
