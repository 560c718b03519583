#Requires -Version 7.0
#Requires -Modules @{ ModuleName = 'Pester'; ModuleVersion = '5.0.0' }
# Pester 5 tests for scripts/MedallionDelivery.psm1 and the two scripts. Run by the Build stage:
#   Invoke-Pester -Path scripts/tests -CI

BeforeAll {
    Set-StrictMode -Version Latest
    $script:ScriptsRoot = Split-Path -Path $PSScriptRoot -Parent
    Import-Module -Name (Join-Path -Path $script:ScriptsRoot -ChildPath 'MedallionDelivery.psm1') -Force
}

Describe 'Get-MedallionSubmitArgumentList' {
    It 'builds the medallion submit arguments for a layer, with the wheel name from Publish' {
        $arguments = Get-MedallionSubmitArgumentList -WorkspaceName 'syn-dev' -SparkPoolName 'pool35' `
            -Layer 'silver' -Pipeline 'orders' -Environment 'dev' `
            -ArtifactRoot 'abfss://artifacts@st.dfs.core.windows.net/medallion/7' `
            -WheelName 'medallion-0.1.0-py3-none-any.whl'
        $arguments | Should -Be @(
            'submit', '--workspace', 'syn-dev', '--pool', 'pool35', '--layer', 'silver', '--pipeline', 'orders',
            '--env', 'dev', '--artifact-root', 'abfss://artifacts@st.dfs.core.windows.net/medallion/7',
            '--wheel', 'medallion-0.1.0-py3-none-any.whl',
            '--executor-size', 'Small', '--executors', '2', '--timeout-minutes', '60', '--poll-seconds', '15'
        )
    }

    It 'adds the endpoint, sizes, resource ids and no-deps when given' {
        $arguments = Get-MedallionSubmitArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -Layer 'gold' `
            -Pipeline 'orders' -Environment 'prod' -ArtifactRoot 'abfss://a@b.dfs.core.windows.net/m/1' `
            -ExecutorSize 'Large' -Executors 4 -TimeoutMinutes 90 -Endpoint 'http://127.0.0.1:8998' `
            -WheelName 'medallion-0.2.0-py3-none-any.whl' -ResourceGroup 'rg-1' -SubscriptionId 'sub-1' -NoDependencies
        $text = $arguments -join ' '
        $text | Should -Match '--wheel medallion-0.2.0-py3-none-any.whl'
        $text | Should -Match '--executor-size Large --executors 4 --timeout-minutes 90'
        $text | Should -Match '--endpoint http://127.0.0.1:8998 --resource-group rg-1 --subscription-id sub-1 --no-deps$'
    }

    It 'accepts preflight and check, and passes job arguments one by one' {
        foreach ($layer in @('preflight', 'check')) {
            $arguments = Get-MedallionSubmitArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -Layer $layer `
                -Pipeline 'orders' -Environment 'dev' -ArtifactRoot 'abfss://a@b.dfs.core.windows.net/m/1' `
                -WheelName 'm.whl' -JobArgument @('--layers', 'bronze,silver')
            ($arguments -join ' ') | Should -Match "--layer $layer --pipeline orders"
            $arguments | Should -Contain '--job-arg=--layers'
            $arguments | Should -Contain '--job-arg=bronze,silver'
        }
    }

    It 'runs report without a pipeline and refuses a layer without one' {
        $arguments = Get-MedallionSubmitArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -Layer 'report' `
            -Environment 'dev' -ArtifactRoot 'abfss://a@b.dfs.core.windows.net/m/1' -WheelName 'm.whl' `
            -JobArgument @('--all', '--out', 'abfss://lake@st.dfs.core.windows.net/_reports/r.html')
        $arguments | Should -Not -Contain '--pipeline'
        $arguments | Should -Contain '--job-arg=--out'
        { Get-MedallionSubmitArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -Layer 'bronze' `
                -Environment 'dev' -ArtifactRoot 'r' -WheelName 'm.whl' } | Should -Throw '*-Pipeline*'
    }

    It 'rejects an unknown layer and size and a wheel name that is a path' {
        { Get-MedallionSubmitArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -Layer 'platinum' `
                -Pipeline 'o' -Environment 'e' -ArtifactRoot 'r' -WheelName 'm.whl' } | Should -Throw
        { Get-MedallionSubmitArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -Layer 'gold' `
                -Pipeline 'o' -Environment 'e' -ArtifactRoot 'r' -WheelName 'm.whl' -ExecutorSize 'Huge' } | Should -Throw
        { Get-MedallionSubmitArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -Layer 'gold' `
                -Pipeline 'o' -Environment 'e' -ArtifactRoot 'r' -WheelName 'dist/m.whl' } | Should -Throw
    }
}

Describe 'Get-MedallionCancelArgumentList' {
    It 'builds the medallion cancel arguments, an empty batch id included' {
        Get-MedallionCancelArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -BatchId '12' |
            Should -Be @('cancel', '--workspace', 'w', '--pool', 'p', '--batch-id', '12')
        (Get-MedallionCancelArgumentList -WorkspaceName 'w' -SparkPoolName 'p' -BatchId '' -Endpoint 'http://x') |
            Should -Be @('cancel', '--workspace', 'w', '--pool', 'p', '--batch-id', '', '--endpoint', 'http://x')
    }
}

Describe 'Test-MedallionPipelinesCredential and Get-MedallionHandOverToken' {
    BeforeAll {
        $script:PipelineVariables = @('SYSTEM_ACCESSTOKEN', 'AZURESUBSCRIPTION_CLIENT_ID', 'AZURESUBSCRIPTION_TENANT_ID',
            'AZURESUBSCRIPTION_SERVICE_CONNECTION_ID')
    }

    AfterEach {
        foreach ($name in $script:PipelineVariables) { Remove-Item -Path "Env:$name" -ErrorAction SilentlyContinue }
    }

    It 'is true only when every variable AzurePipelinesCredential needs is set' {
        foreach ($name in $script:PipelineVariables) { Set-Item -Path "Env:$name" -Value 'x' }
        Test-MedallionPipelinesCredential | Should -BeTrue
        Remove-Item -Path Env:SYSTEM_ACCESSTOKEN
        Test-MedallionPipelinesCredential | Should -BeFalse
    }

    It 'hands over no token when the CLI can renew its own' {
        foreach ($name in $script:PipelineVariables) { Set-Item -Path "Env:$name" -Value 'x' }
        Mock -ModuleName MedallionDelivery Get-MedallionAccessToken { throw 'must not be called' }
        Get-MedallionHandOverToken -ResourceUrl 'https://dev.azuresynapse.net' | Should -BeNullOrEmpty
    }

    It 'hands over the Az context token, with a warning, otherwise' {
        Mock -ModuleName MedallionDelivery Get-MedallionAccessToken { 'tok-789' }
        Get-MedallionHandOverToken -ResourceUrl 'https://dev.azuresynapse.net' -WarningVariable warned `
            -WarningAction SilentlyContinue | Should -Be 'tok-789'
        ($warned -join ' ') | Should -Match 'cannot be renewed'
    }
}

Describe 'Get-MedallionPublishArgumentList' {
    It 'builds the medallion publish arguments' {
        $arguments = Get-MedallionPublishArgumentList -Target 'abfss://artifacts@st.dfs.core.windows.net/medallion' `
            -Version '20261126.1' -Overwrite
        $arguments | Should -Be @(
            'publish', '--target', 'abfss://artifacts@st.dfs.core.windows.net/medallion', '--version', '20261126.1',
            '--jobs-dir', 'jobs', '--conf-dir', 'conf', '--dist-dir', 'dist', '--overwrite'
        )
    }

    It 'refuses a target that is not abfss' {
        { Get-MedallionPublishArgumentList -Target 'https://st.blob.core.windows.net/x' -Version '1' } |
            Should -Throw '*abfss*'
    }
}

Describe 'Get-MedallionAccessToken' {
    BeforeAll {
        # Stand-ins for the Az.Accounts cmdlets, so the tests need neither the module nor a sign-in.
        function global:Get-AzContext { [CmdletBinding()] param() }
        function global:Get-AzAccessToken { [CmdletBinding()] param([string]$ResourceUrl) }
    }

    AfterAll {
        Remove-Item -Path Function:\Get-AzAccessToken, Function:\Get-AzContext -ErrorAction SilentlyContinue
    }

    It 'returns nothing without a signed-in Az context' {
        Mock -ModuleName MedallionDelivery Get-AzContext { $null }
        Mock -ModuleName MedallionDelivery Get-AzAccessToken { throw 'must not be called' }
        Get-MedallionAccessToken -ResourceUrl 'https://dev.azuresynapse.net' | Should -BeNullOrEmpty
        Should -Invoke -ModuleName MedallionDelivery Get-AzAccessToken -Times 0 -Exactly
    }

    It 'turns a SecureString token into plain text for the child process' {
        Mock -ModuleName MedallionDelivery Get-AzContext { [pscustomobject]@{ Name = 'ctx' } }
        Mock -ModuleName MedallionDelivery Get-AzAccessToken {
            [pscustomobject]@{ Token = (ConvertTo-SecureString -String 'tok-123' -AsPlainText -Force) }
        } -ParameterFilter { $ResourceUrl -eq 'https://dev.azuresynapse.net' }
        Get-MedallionAccessToken -ResourceUrl 'https://dev.azuresynapse.net' | Should -Be 'tok-123'
    }

    It 'accepts a plain-text token from older Az.Accounts versions' {
        Mock -ModuleName MedallionDelivery Get-AzContext { [pscustomobject]@{ Name = 'ctx' } }
        Mock -ModuleName MedallionDelivery Get-AzAccessToken { [pscustomobject]@{ Token = 'plain-456' } }
        Get-MedallionAccessToken -ResourceUrl 'https://storage.azure.com' | Should -Be 'plain-456'
    }
}

Describe 'The scripts' {
    BeforeAll {
        # A stand-in for the medallion CLI: records its arguments and whether it saw a token, exits with FAKE_EXIT.
        $script:FakeCli = Join-Path -Path $TestDrive -ChildPath 'fake-medallion.ps1'
        Set-Content -Path $script:FakeCli -Value @'
$record = [ordered]@{
    args         = $args
    synapseToken = [bool]$env:MEDALLION_SYNAPSE_TOKEN
    storageToken = [bool]$env:MEDALLION_STORAGE_TOKEN
}
$record | ConvertTo-Json -Compress | Set-Content -Path $env:FAKE_RECORD
Write-Output '##vso[task.setvariable variable=batchId;isOutput=true]3'
exit [int]$env:FAKE_EXIT
'@
        $script:Record = Join-Path -Path $TestDrive -ChildPath 'record.json'
        $script:SubmitScript = Join-Path -Path $script:ScriptsRoot -ChildPath 'Submit-SynapseSparkJob.ps1'
        $script:PublishScript = Join-Path -Path $script:ScriptsRoot -ChildPath 'Publish-MedallionArtifacts.ps1'
        $script:SubmitArgs = @(
            '-NoProfile', '-NonInteractive', '-File', $script:SubmitScript,
            '-WorkspaceName', 'syn-dev', '-SparkPoolName', 'pool35', '-Layer', 'bronze', '-Pipeline', 'orders',
            '-Environment', 'dev', '-ArtifactRoot', 'abfss://artifacts@st.dfs.core.windows.net/medallion/7',
            '-WheelName', 'medallion-0.1.0-py3-none-any.whl', '-TimeoutMinutes', '5', '-MedallionCommand', $script:FakeCli
        )
        $script:StopScript = Join-Path -Path $script:ScriptsRoot -ChildPath 'Stop-SynapseSparkJob.ps1'
    }

    BeforeEach {
        $env:FAKE_RECORD = $script:Record
        Remove-Item -Path Env:MEDALLION_SYNAPSE_TOKEN, Env:MEDALLION_STORAGE_TOKEN -ErrorAction SilentlyContinue
    }

    It 'Submit-SynapseSparkJob passes the arguments and exit code 0 through' {
        $env:FAKE_EXIT = '0'
        $output = & pwsh @script:SubmitArgs 2>&1
        $LASTEXITCODE | Should -Be 0
        $record = Get-Content -Path $script:Record -Raw | ConvertFrom-Json
        ($record.args -join ' ') | Should -Match '^submit --workspace syn-dev --pool pool35 --layer bronze'
        ($record.args -join ' ') | Should -Match '--timeout-minutes 5'
        ($record.args -join ' ') | Should -Match '--wheel medallion-0.1.0-py3-none-any.whl'
        ($output -join "`n") | Should -Match 'task.setvariable variable=batchId;isOutput=true'
    }

    It 'Submit-SynapseSparkJob passes job arguments for report' {
        $env:FAKE_EXIT = '0'
        & pwsh -NoProfile -NonInteractive -File $script:SubmitScript -WorkspaceName 'syn-dev' -SparkPoolName 'pool35' `
            -Layer 'report' -Environment 'dev' -ArtifactRoot 'abfss://artifacts@st.dfs.core.windows.net/medallion/7' `
            -WheelName 'medallion-0.1.0-py3-none-any.whl' -JobArgument '--all', '--out', 'abfss://l@s.dfs.core.windows.net/r.html' `
            -MedallionCommand $script:FakeCli *> $null
        $LASTEXITCODE | Should -Be 0
        $record = Get-Content -Path $script:Record -Raw | ConvertFrom-Json
        ($record.args -join ' ') | Should -Match '--layer report --env dev'
        ($record.args -join ' ') | Should -Match '--job-arg=--all --job-arg=--out --job-arg=abfss://l@s.dfs.core.windows.net/r.html'
    }

    It 'Stop-SynapseSparkJob calls medallion cancel with the batch id, also an empty one' {
        $env:FAKE_EXIT = '0'
        & pwsh -NoProfile -NonInteractive -File $script:StopScript -WorkspaceName 'syn-dev' -SparkPoolName 'pool35' `
            -BatchId '17' -MedallionCommand $script:FakeCli *> $null
        $LASTEXITCODE | Should -Be 0
        $record = Get-Content -Path $script:Record -Raw | ConvertFrom-Json
        ($record.args -join ' ') | Should -Be 'cancel --workspace syn-dev --pool pool35 --batch-id 17'
        & pwsh -NoProfile -NonInteractive -File $script:StopScript -WorkspaceName 'syn-dev' -SparkPoolName 'pool35' `
            -BatchId '' -MedallionCommand $script:FakeCli *> $null
        $LASTEXITCODE | Should -Be 0
    }

    It 'Submit-SynapseSparkJob hands no token over when SYSTEM_ACCESSTOKEN and the service connection are set' {
        $env:FAKE_EXIT = '0'
        $names = @('SYSTEM_ACCESSTOKEN', 'AZURESUBSCRIPTION_CLIENT_ID', 'AZURESUBSCRIPTION_TENANT_ID',
            'AZURESUBSCRIPTION_SERVICE_CONNECTION_ID')
        try {
            foreach ($name in $names) { Set-Item -Path "Env:$name" -Value 'x' }
            & pwsh @script:SubmitArgs *> $null
        }
        finally {
            foreach ($name in $names) { Remove-Item -Path "Env:$name" -ErrorAction SilentlyContinue }
        }
        $LASTEXITCODE | Should -Be 0
        (Get-Content -Path $script:Record -Raw | ConvertFrom-Json).synapseToken | Should -BeFalse
    }

    It 'Submit-SynapseSparkJob fails the step when the batch failed' {
        $env:FAKE_EXIT = '1'
        & pwsh @script:SubmitArgs *> $null
        $LASTEXITCODE | Should -Be 1
    }

    It 'Submit-SynapseSparkJob refuses a bad layer before calling the CLI' {
        $env:FAKE_EXIT = '0'
        Remove-Item -Path $script:Record -ErrorAction SilentlyContinue
        $bad = $script:SubmitArgs.Clone()
        $bad[$bad.IndexOf('bronze')] = 'platinum'
        & pwsh @bad *> $null
        $LASTEXITCODE | Should -Not -Be 0
        Test-Path -Path $script:Record | Should -BeFalse
    }

    It 'Publish-MedallionArtifacts passes the arguments and the exit code through' {
        $env:FAKE_EXIT = '2'
        & pwsh -NoProfile -NonInteractive -File $script:PublishScript `
            -Target 'abfss://artifacts@st.dfs.core.windows.net/medallion' -Version '7' `
            -MedallionCommand $script:FakeCli *> $null
        $LASTEXITCODE | Should -Be 2
        $record = Get-Content -Path $script:Record -Raw | ConvertFrom-Json
        ($record.args -join ' ') | Should -Be (
            'publish --target abfss://artifacts@st.dfs.core.windows.net/medallion --version 7 ' +
            '--jobs-dir jobs --conf-dir conf --dist-dir dist')
    }

    It 'both scripts use strict mode and stop on errors' {
        foreach ($path in @($script:SubmitScript, $script:PublishScript, $script:StopScript)) {
            $text = Get-Content -Path $path -Raw
            $text | Should -Match 'Set-StrictMode -Version Latest'
            $text | Should -Match "\`$ErrorActionPreference = 'Stop'"
        }
    }

    It 'never prints or passes a token on the command line' {
        foreach ($path in @($script:SubmitScript, $script:PublishScript, $script:StopScript)) {
            $text = Get-Content -Path $path -Raw
            $text | Should -Not -Match 'Write-(Host|Output|Verbose)[^\r\n]*\$token'
            $text | Should -Not -Match 'task\.setsecret'
        }
    }
}

Describe 'Invoke-MedallionCli' {
    It 'sets the token only for the child process' {
        $fake = Join-Path -Path $TestDrive -ChildPath 'echo-token.ps1'
        Set-Content -Path $fake -Value 'if ($env:MEDALLION_SYNAPSE_TOKEN -eq "t0k") { exit 0 } else { exit 9 }'
        Invoke-MedallionCli -Command $fake -ArgumentList @('submit') -TokenVariable 'MEDALLION_SYNAPSE_TOKEN' `
            -Token 't0k' | Should -Be 0
        Test-Path -Path Env:MEDALLION_SYNAPSE_TOKEN | Should -BeFalse
    }
}
