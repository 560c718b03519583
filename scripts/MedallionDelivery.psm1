#Requires -Version 7.0
<#
.SYNOPSIS
    Helpers shared by Publish-MedallionArtifacts.ps1 and Submit-SynapseSparkJob.ps1.

.DESCRIPTION
    The scripts stay thin: they build the argument list for `medallion publish` / `medallion submit`,
    hand over an access token through the environment of that one child process (never on its command
    line, never printed), run it and return its exit code. Every decision (payload, polling, timeout,
    cancel, logging commands) is made by the medallion CLI, which is tested in CI.
#>
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Get-MedallionSubmitArgumentList {
    <#
    .SYNOPSIS
        The arguments of `medallion submit` for one layer run.
    #>
    [CmdletBinding()]
    [OutputType([string[]])]
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
        [string]$WheelName
    )
    $arguments = [System.Collections.Generic.List[string]]::new()
    $arguments.AddRange([string[]]@(
            'submit',
            '--workspace', $WorkspaceName,
            '--pool', $SparkPoolName,
            '--layer', $Layer,
            '--pipeline', $Pipeline,
            '--env', $Environment,
            '--artifact-root', $ArtifactRoot,
            '--executor-size', $ExecutorSize,
            '--executors', [string]$Executors,
            '--timeout-minutes', [string]$TimeoutMinutes,
            '--poll-seconds', [string]$PollSeconds
        ))
    if ($Endpoint) {
        $arguments.AddRange([string[]]@('--endpoint', $Endpoint))
    }
    if ($WheelName) {
        $arguments.AddRange([string[]]@('--wheel', $WheelName))
    }
    return , $arguments.ToArray()
}

function Get-MedallionPublishArgumentList {
    <#
    .SYNOPSIS
        The arguments of `medallion publish`.
    #>
    [CmdletBinding()]
    [OutputType([string[]])]
    param(
        [Parameter(Mandatory)][string]$Target,
        [Parameter(Mandatory)][string]$Version,
        [string]$WheelPath,
        [string]$DistDirectory = 'dist',
        [string]$JobsDirectory = 'jobs',
        [string]$ConfDirectory = 'conf',
        [switch]$Overwrite
    )
    if ($Target -notmatch '^abfss://[a-z0-9-]+@[a-z0-9]+\.dfs\.') {
        throw "Target '$Target' is not an abfss://container@account.dfs.core.windows.net/path URI."
    }
    $arguments = [System.Collections.Generic.List[string]]::new()
    $arguments.AddRange([string[]]@(
            'publish',
            '--target', $Target,
            '--version', $Version,
            '--jobs-dir', $JobsDirectory,
            '--conf-dir', $ConfDirectory
        ))
    if ($WheelPath) {
        $arguments.AddRange([string[]]@('--wheel', $WheelPath))
    }
    else {
        $arguments.AddRange([string[]]@('--dist-dir', $DistDirectory))
    }
    if ($Overwrite) {
        $arguments.Add('--overwrite')
    }
    return , $arguments.ToArray()
}

function Get-MedallionAccessToken {
    <#
    .SYNOPSIS
        A plain-text access token for a resource from the signed-in Az PowerShell context, or $null.

    .DESCRIPTION
        Inside AzurePowerShell@5 the service connection is signed in to this PowerShell session only, so a
        child process cannot reuse it; the token is handed to the child through one environment variable.
        Returns $null when Az.Accounts is not loaded or no context is signed in (the CLI then falls back to
        DefaultAzureCredential: workload identity, managed identity, Azure CLI).
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)][string]$ResourceUrl
    )
    if (-not (Get-Command -Name 'Get-AzAccessToken' -ErrorAction SilentlyContinue)) {
        return $null
    }
    if (-not (Get-AzContext -ErrorAction SilentlyContinue)) {
        return $null
    }
    $accessToken = Get-AzAccessToken -ResourceUrl $ResourceUrl
    $token = $accessToken.Token
    if ($token -is [System.Security.SecureString]) {
        $token = ConvertFrom-SecureString -SecureString $token -AsPlainText
    }
    return [string]$token
}

function Invoke-MedallionCli {
    <#
    .SYNOPSIS
        Run the medallion CLI with an optional token in one environment variable; return its exit code.
    #>
    [CmdletBinding()]
    [OutputType([int])]
    param(
        [Parameter(Mandatory)][string]$Command,
        [Parameter(Mandatory)][string[]]$ArgumentList,
        [string]$TokenVariable,
        [string]$Token
    )
    $PSNativeCommandUseErrorActionPreference = $false
    $hadToken = $false
    try {
        if ($TokenVariable -and $Token) {
            Set-Item -Path "Env:$TokenVariable" -Value $Token
            $hadToken = $true
        }
        & $Command @ArgumentList | Out-Host
        $exitCode = $LASTEXITCODE
    }
    finally {
        if ($hadToken) {
            Remove-Item -Path "Env:$TokenVariable" -ErrorAction SilentlyContinue
        }
    }
    if ($null -eq $exitCode) {
        return 0
    }
    return [int]$exitCode
}

Export-ModuleMember -Function Get-MedallionSubmitArgumentList, Get-MedallionPublishArgumentList,
Get-MedallionAccessToken, Invoke-MedallionCli
