@echo off
rem Startup script for a Windows container (nanoserver has cmd, not PowerShell).
rem kvinit reads the secrets named by KVINIT_VAULT and KVINIT_ENV with the
rem container group's managed identity, starts the app with them in its
rem environment, waits, and exits with the app's exit code.
rem
rem   ENTRYPOINT ["cmd", "/S", "/C", "C:\\kvinit\\start.cmd"]
rem
rem   KVINIT_VAULT=myvault
rem   KVINIT_ENV=DB_PASSWORD=db-password,API_KEY=api-key
C:\kvinit\kvinit.exe -- C:\app\server.exe %*
exit /b %ERRORLEVEL%
