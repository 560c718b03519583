#Requires -Version 7.0
<#
.SYNOPSIS
    Helpers shared by Publish-MedallionArtifacts.ps1 and Submit-SynapseSparkJob.ps1.

.DESCRIPTION
    The scripts stay thin: they build the argument list for `medallion publish` / `submit` / `cancel`,
    and run it. Inside an Azure Pipelines step that maps SYSTEM_ACCESSTOKEN, the CLI signs in itself with
    AzurePipelinesCredential (fresh tokens for the whole poll); only elsewhere is an access token from the
    Az context handed to that one child process through its environment (never on its command line,
    never printed), and that token cannot be renewed. Every decision (payload, polling, timeout, cancel,
    logging commands) is made by the medallion CLI, which is tested in CI.
#>
Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

function Get-MedallionSubmitArgumentList {
    <#
    .SYNOPSIS
        The arguments of `medallion submit` for one job run (a layer, preflight, check or report).
    #>
    [CmdletBinding()]
    [OutputType([string[]])]
    param(
        [Parameter(Mandatory)][string]$WorkspaceName,
        [Parameter(Mandatory)][string]$SparkPoolName,
        [Parameter(Mandatory)][ValidateSet('preflight', 'bronze', 'silver', 'gold', 'check', 'report')][string]$Layer,
        [string]$Pipeline,
        [Parameter(Mandatory)][string]$Environment,
        [Parameter(Mandatory)][string]$ArtifactRoot,
        [Parameter(Mandatory)][ValidatePattern('^[^/\\]+\.whl$')][string]$WheelName,
        [ValidateSet('Small', 'Medium', 'Large', 'XLarge', 'XXLarge')][string]$ExecutorSize = 'Small',
        [ValidateRange(1, 200)][int]$Executors = 2,
        [ValidateRange(1, 1440)][int]$TimeoutMinutes = 60,
        [ValidateRange(1, 600)][int]$PollSeconds = 15,
        [string]$Endpoint,
        [string]$ResourceGroup,
        [string]$SubscriptionId,
        [string[]]$JobArgument = @(),
        [switch]$NoDependencies
    )
    if ($Layer -ne 'report' -and -not $Pipeline) {
        throw "Layer '$Layer' needs -Pipeline (a dataset name under conf/pipelines)."
    }
    $arguments = [System.Collections.Generic.List[string]]::new()
    $arguments.AddRange([string[]]@(
            'submit',
            '--workspace', $WorkspaceName,
            '--pool', $SparkPoolName,
            '--layer', $Layer
        ))
    if ($Pipeline) {
        $arguments.AddRange([string[]]@('--pipeline', $Pipeline))
    }
    $arguments.AddRange([string[]]@(
            '--env', $Environment,
            '--artifact-root', $ArtifactRoot,
            '--wheel', $WheelName,
            '--executor-size', $ExecutorSize,
            '--executors', [string]$Executors,
            '--timeout-minutes', [string]$TimeoutMinutes,
            '--poll-seconds', [string]$PollSeconds
        ))
    if ($Endpoint) {
        $arguments.AddRange([string[]]@('--endpoint', $Endpoint))
    }
    if ($ResourceGroup) {
        $arguments.AddRange([string[]]@('--resource-group', $ResourceGroup))
    }
    if ($SubscriptionId) {
        $arguments.AddRange([string[]]@('--subscription-id', $SubscriptionId))
    }
    foreach ($item in $JobArgument) {
        $arguments.Add("--job-arg=$item")
    }
    if ($NoDependencies) {
        $arguments.Add('--no-deps')
    }
    return , $arguments.ToArray()
}

function Get-MedallionCancelArgumentList {
    <#
    .SYNOPSIS
        The arguments of `medallion cancel` (the cleanup step after a cancelled or timed-out job).
    #>
    [CmdletBinding()]
    [OutputType([string[]])]
    param(
        [Parameter(Mandatory)][string]$WorkspaceName,
        [Parameter(Mandatory)][string]$SparkPoolName,
        [AllowEmptyString()][string]$BatchId = '',
        [string]$Endpoint
    )
    $arguments = [System.Collections.Generic.List[string]]::new()
    $arguments.AddRange([string[]]@(
            'cancel',
            '--workspace', $WorkspaceName,
            '--pool', $SparkPoolName,
            '--batch-id', $BatchId
        ))
    if ($Endpoint) {
        $arguments.AddRange([string[]]@('--endpoint', $Endpoint))
    }
    return , $arguments.ToArray()
}

function Test-MedallionPipelinesCredential {
    <#
    .SYNOPSIS
        True when the CLI can sign in with AzurePipelinesCredential (renewable tokens for the whole job).

    .DESCRIPTION
        AzurePowerShell@5 and AzureCLI@2 set AZURESUBSCRIPTION_CLIENT_ID, AZURESUBSCRIPTION_TENANT_ID and
        AZURESUBSCRIPTION_SERVICE_CONNECTION_ID for a workload identity federation connection; the step must
        map SYSTEM_ACCESSTOKEN: $(System.AccessToken) in its env.
    #>
    [CmdletBinding()]
    [OutputType([bool])]
    param()
    foreach ($name in @('SYSTEM_ACCESSTOKEN', 'AZURESUBSCRIPTION_CLIENT_ID', 'AZURESUBSCRIPTION_TENANT_ID',
            'AZURESUBSCRIPTION_SERVICE_CONNECTION_ID')) {
        if (-not [System.Environment]::GetEnvironmentVariable($name)) {
            return $false
        }
    }
    return $true
}

function Get-MedallionHandOverToken {
    <#
    .SYNOPSIS
        The token to hand to the CLI: none when it can renew its own (Test-MedallionPipelinesCredential),
        else one from the Az context, with a warning that it cannot be renewed.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)][string]$ResourceUrl
    )
    if (Test-MedallionPipelinesCredential) {
        return $null
    }
    $token = Get-MedallionAccessToken -ResourceUrl $ResourceUrl
    if ($token) {
        Write-Warning ('Handing over one access token from the Az context: it cannot be renewed. Map ' +
            'SYSTEM_ACCESSTOKEN: $(System.AccessToken) in the step so the CLI renews its own tokens.')
    }
    return $token
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
Get-MedallionCancelArgumentList, Test-MedallionPipelinesCredential, Get-MedallionHandOverToken,
Get-MedallionAccessToken, Invoke-MedallionCli
