# Startup script for a Windows container (PowerShell images, e.g. servercore).
# kvinit gets a token from the container group's managed identity (on ACI
# Windows: IDENTITY_ENDPOINT + IDENTITY_HEADER, injected by the platform),
# reads the secrets, starts the app with them in its environment, waits, and
# exits with the app's exit code, so the container's status is the app's.
#
#   ENTRYPOINT ["powershell", "-NoProfile", "-File", "C:\\kvinit\\start.ps1"]
#
# Configure it with variables instead of editing this file:
#   KVINIT_VAULT  = myvault
#   KVINIT_ENV    = DB_PASSWORD=db-password,API_KEY=api-key
$ErrorActionPreference = 'Stop'

& 'C:\kvinit\kvinit.exe' -- 'C:\app\server.exe' @args
# kvinit's code is the app's, or 2/3/4 if kvinit itself failed (see the README).
exit $LASTEXITCODE
