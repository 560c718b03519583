#!/usr/bin/env bash
# One idempotent set-up of one medallion environment (dev, test or prod) with the Azure CLI: resource group,
# ADLS Gen2 account and its containers, Synapse workspace and Spark 3.5 pool, the workspace firewall rule for
# the agents, the roles of the service connection's principal (the identity that publishes, submits and, inside
# the batches, reads and writes abfss://), and the Azure DevOps environment with its Exclusive lock check.
# Every step looks first and changes only what is missing, so a second run changes nothing.
#
# Usage (values as in docs/deploy-azure.md):
#   MEDALLION_ENV=dev RESOURCE_GROUP=rg-medallion-dev LOCATION=westeurope STORAGE_ACCOUNT=stmedalliondev \
#   WORKSPACE=syn-medallion-dev POOL=medallion35 SP_APP_ID=<service connection app id> \
#   [AGENT_IP_START=203.0.113.0 AGENT_IP_END=203.0.113.255] [ADO_ORG=https://dev.azure.com/org ADO_PROJECT=p] \
#   scripts/setup-azure-environment.sh
set -euo pipefail

: "${MEDALLION_ENV:?MEDALLION_ENV (dev, test or prod) is required}"
: "${RESOURCE_GROUP:?RESOURCE_GROUP is required}"
: "${LOCATION:?LOCATION is required}"
: "${STORAGE_ACCOUNT:?STORAGE_ACCOUNT is required}"
: "${WORKSPACE:?WORKSPACE is required}"
: "${POOL:?POOL is required}"
: "${SP_APP_ID:?SP_APP_ID, the application id of the service connection, is required}"
AGENT_IP_START="${AGENT_IP_START:-}"
AGENT_IP_END="${AGENT_IP_END:-${AGENT_IP_START}}"
ADO_ORG="${ADO_ORG:-}"
ADO_PROJECT="${ADO_PROJECT:-}"
CONTAINERS=(artifacts lake)
# the Exclusive Lock check type (Azure DevOps checks API)
EXCLUSIVE_LOCK_TYPE="2ef31ad6-baa0-403a-8b45-2cbc9b4e5563"

log() { printf 'setup: %s\n' "$*" >&2; }
fail() { printf 'setup: FAILED %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------- resources
if az group show --name "${RESOURCE_GROUP}" --output none 2>/dev/null; then
  log "resource group ${RESOURCE_GROUP} exists"
else
  az group create --name "${RESOURCE_GROUP}" --location "${LOCATION}" --output none
  log "created resource group ${RESOURCE_GROUP}"
fi

if az storage account show --name "${STORAGE_ACCOUNT}" --resource-group "${RESOURCE_GROUP}" --output none 2>/dev/null; then
  log "storage account ${STORAGE_ACCOUNT} exists"
else
  az storage account create --name "${STORAGE_ACCOUNT}" --resource-group "${RESOURCE_GROUP}" \
    --location "${LOCATION}" --sku Standard_LRS --kind StorageV2 --hns true --min-tls-version TLS1_2 \
    --allow-blob-public-access false --output none
  log "created storage account ${STORAGE_ACCOUNT}"
fi
hns=$(az storage account show --name "${STORAGE_ACCOUNT}" --resource-group "${RESOURCE_GROUP}" \
  --query isHnsEnabled --output tsv)
[[ "${hns}" == "true" ]] || fail "${STORAGE_ACCOUNT} has no hierarchical namespace (publish renames folders): use another account"

for container in "${CONTAINERS[@]}"; do
  exists=$(az storage fs exists --name "${container}" --account-name "${STORAGE_ACCOUNT}" --auth-mode login \
    --query exists --output tsv)
  if [[ "${exists}" == "true" ]]; then
    log "container ${container} exists"
  else
    az storage fs create --name "${container}" --account-name "${STORAGE_ACCOUNT}" --auth-mode login --output none
    log "created container ${container}"
  fi
done

if az synapse workspace show --name "${WORKSPACE}" --resource-group "${RESOURCE_GROUP}" --output none 2>/dev/null; then
  log "Synapse workspace ${WORKSPACE} exists"
else
  az synapse workspace create --name "${WORKSPACE}" --resource-group "${RESOURCE_GROUP}" --location "${LOCATION}" \
    --storage-account "${STORAGE_ACCOUNT}" --file-system lake --sql-admin-login-user sqladmin \
    --sql-admin-login-password "$(openssl rand -base64 24)" --output none
  log "created Synapse workspace ${WORKSPACE}"
fi

if az synapse spark pool show --name "${POOL}" --workspace-name "${WORKSPACE}" --resource-group "${RESOURCE_GROUP}" \
  --output none 2>/dev/null; then
  log "Spark pool ${POOL} exists"
else
  az synapse spark pool create --name "${POOL}" --workspace-name "${WORKSPACE}" --resource-group "${RESOURCE_GROUP}" \
    --spark-version 3.5 --node-size Small --node-count 3 --enable-auto-scale true --min-node-count 3 \
    --max-node-count 10 --enable-auto-pause true --delay 15 --output none
  log "created Spark pool ${POOL}"
fi
version=$(az synapse spark pool show --name "${POOL}" --workspace-name "${WORKSPACE}" \
  --resource-group "${RESOURCE_GROUP}" --query sparkVersion --output tsv)
[[ "${version}" == "3.5" ]] || fail "Spark pool ${POOL} runs Spark ${version}; medallion needs 3.5 (Delta 3.2)"

# ---------------------------------------------------------------------------- firewall
if [[ -n "${AGENT_IP_START}" ]]; then
  current=$(az synapse workspace firewall-rule show --name allow-agents --workspace-name "${WORKSPACE}" \
    --resource-group "${RESOURCE_GROUP}" --query "[startIpAddress, endIpAddress]" --output tsv 2>/dev/null \
    | tr '\n\t' '  ' | xargs || true)
  if [[ "${current}" == "${AGENT_IP_START} ${AGENT_IP_END}" ]]; then
    log "firewall rule allow-agents allows ${AGENT_IP_START}-${AGENT_IP_END}"
  elif [[ -n "${current}" ]]; then
    az synapse workspace firewall-rule update --name allow-agents --workspace-name "${WORKSPACE}" \
      --resource-group "${RESOURCE_GROUP}" --start-ip-address "${AGENT_IP_START}" --end-ip-address "${AGENT_IP_END}" \
      --output none
    log "firewall rule allow-agents set to ${AGENT_IP_START}-${AGENT_IP_END}"
  else
    az synapse workspace firewall-rule create --name allow-agents --workspace-name "${WORKSPACE}" \
      --resource-group "${RESOURCE_GROUP}" --start-ip-address "${AGENT_IP_START}" --end-ip-address "${AGENT_IP_END}" \
      --output none
    log "created firewall rule allow-agents ${AGENT_IP_START}-${AGENT_IP_END}"
  fi
else
  log "no AGENT_IP_START: no firewall rule (a closed workspace firewall answers 403 ClientIpAddressNotAuthorized)"
fi

# ---------------------------------------------------------------------------- roles
principal=$(az ad sp show --id "${SP_APP_ID}" --query id --output tsv)
account_id=$(az storage account show --name "${STORAGE_ACCOUNT}" --resource-group "${RESOURCE_GROUP}" \
  --query id --output tsv)

grant_storage_role() {  # role scope
  local count
  count=$(az role assignment list --assignee "${principal}" --role "$1" --scope "$2" --query "length(@)" --output tsv)
  if [[ "${count}" == "0" ]]; then
    az role assignment create --assignee-object-id "${principal}" --assignee-principal-type ServicePrincipal \
      --role "$1" --scope "$2" --output none
    log "granted $1 on $2"
  else
    log "$1 on $2 already granted"
  fi
}

grant_synapse_role() {  # role [scope]
  local count scope_args=()
  if [[ -n "${2:-}" ]]; then scope_args=(--scope "$2"); fi
  count=$(az synapse role assignment list --workspace-name "${WORKSPACE}" --assignee "${SP_APP_ID}" --role "$1" \
    "${scope_args[@]}" --query "length(@)" --output tsv)
  if [[ "${count}" == "0" ]]; then
    az synapse role assignment create --workspace-name "${WORKSPACE}" --assignee "${SP_APP_ID}" --role "$1" \
      "${scope_args[@]}" --output none
    log "granted Synapse role $1 ${2:-on the workspace}"
  else
    log "Synapse role $1 already granted"
  fi
}

# the service connection's principal publishes, and a batch it submits reads and writes abfss:// as it
for container in "${CONTAINERS[@]}"; do
  grant_storage_role "Storage Blob Data Contributor" "${account_id}/blobServices/default/containers/${container}"
done
grant_synapse_role "Synapse Compute Operator" "workspaces/${WORKSPACE}/bigDataPools/${POOL}"
grant_synapse_role "Synapse Monitoring Operator"

# ---------------------------------------------------------------------------- Azure DevOps environment and lock
if [[ -n "${ADO_ORG}" && -n "${ADO_PROJECT}" ]]; then
  environment="medallion-${MEDALLION_ENV}"
  env_id=$(az devops invoke --organization "${ADO_ORG}" --area distributedtask --resource environments \
    --route-parameters project="${ADO_PROJECT}" --query-parameters name="${environment}" --http-method GET \
    --api-version 7.1 --query "value[0].id" --output tsv)
  if [[ -z "${env_id}" ]]; then
    body=$(mktemp)
    printf '{"name": "%s"}\n' "${environment}" > "${body}"
    env_id=$(az devops invoke --organization "${ADO_ORG}" --area distributedtask --resource environments \
      --route-parameters project="${ADO_PROJECT}" --http-method POST --api-version 7.1 --in-file "${body}" \
      --query id --output tsv)
    rm -f "${body}"
    log "created environment ${environment}"
  else
    log "environment ${environment} exists"
  fi
  locks=$(az devops invoke --organization "${ADO_ORG}" --area PipelinesChecks --resource configurations \
    --route-parameters project="${ADO_PROJECT}" --query-parameters resourceType=environment resourceId="${env_id}" \
    --http-method GET --api-version 7.1-preview --query "length(value[?type.id=='${EXCLUSIVE_LOCK_TYPE}'])" \
    --output tsv)
  if [[ "${locks}" == "0" ]]; then
    body=$(mktemp)
    printf '{"type": {"id": "%s", "name": "ExclusiveLock"}, "settings": {}, "timeout": 43200, "resource": {"type": "environment", "id": "%s"}}\n' \
      "${EXCLUSIVE_LOCK_TYPE}" "${env_id}" > "${body}"
    az devops invoke --organization "${ADO_ORG}" --area PipelinesChecks --resource configurations \
      --route-parameters project="${ADO_PROJECT}" --http-method POST --api-version 7.1-preview --in-file "${body}" \
      --output none
    rm -f "${body}"
    log "added the Exclusive lock check to ${environment} (keeps whole runs apart: the Deliver stage holds it)"
  else
    log "${environment} has its Exclusive lock check"
  fi
else
  log "no ADO_ORG/ADO_PROJECT: add the environment medallion-${MEDALLION_ENV} and its Exclusive lock check by hand"
fi

log "OK: ${MEDALLION_ENV} is set up (${WORKSPACE}/${POOL}, ${STORAGE_ACCOUNT}, principal ${principal})"
