# Build the double-click app on Windows into dist\face-kiosk\ (PyInstaller, one folder), check
# it with `face-kiosk self-test`, and zip it as dist\face-kiosk-VERSION-windows-ARCH.zip.
#
#   powershell -ExecutionPolicy Bypass -File packaging\build.ps1 [-Clean] [-SkipSelfTest]
#
# The folder holds two executables sharing one _internal\ folder:
#   face-kiosk-app.exe  windowed, no console: what receptionists start (make a shortcut to it)
#   face-kiosk.exe      console: `face-kiosk.exe self-test` and the admin commands print here
param([switch]$Clean, [switch]$SkipSelfTest)
$ErrorActionPreference = "Stop"
Set-Location (Split-Path -Parent $PSScriptRoot)

$venv = if ($env:VENV) { $env:VENV } else { ".venv" }
$python = Join-Path $venv "Scripts\python.exe"
if (-not (Test-Path $python)) {
    py -3 -m venv $venv
    & $python -m pip install --quiet --upgrade pip
}
& $python -c "import kiosk, ui, PyInstaller" 2>$null
if ($LASTEXITCODE -ne 0) {
    & $python -m pip install --quiet -e . "pyinstaller>=6.5,<7"
    if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
}

$version = & $python -c "import kiosk; print(kiosk.__version__)"
$arch = $env:PROCESSOR_ARCHITECTURE.ToLower()
$args = @("-m", "PyInstaller", "--noconfirm", "--distpath", "dist", "--workpath", "build\pyinstaller")
if ($Clean) { $args += "--clean" }
$started = Get-Date
& $python @args packaging\face-kiosk.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
Write-Host ("built dist\face-kiosk in {0:N0} s" -f ((Get-Date) - $started).TotalSeconds)

if (-not $SkipSelfTest) {
    # A throw-away database and config: the build machine's own gallery is never touched.
    $tmp = Join-Path ([System.IO.Path]::GetTempPath()) ("face-kiosk-build-" + [guid]::NewGuid())
    New-Item -ItemType Directory -Path $tmp | Out-Null
    try {
        $env:QT_QPA_PLATFORM = "offscreen"
        & dist\face-kiosk\face-kiosk.exe self-test --db "$tmp\gallery.db" --config "$tmp\none.json"
        if ($LASTEXITCODE -ne 0) { throw "self-test of the built app failed" }
    } finally {
        Remove-Item Env:QT_QPA_PLATFORM -ErrorAction SilentlyContinue
        Remove-Item -Recurse -Force $tmp
    }
}

$zip = "dist\face-kiosk-$version-windows-$arch.zip"
if (Test-Path $zip) { Remove-Item $zip }
Compress-Archive -Path dist\face-kiosk -DestinationPath $zip
$size = (Get-ChildItem -Recurse dist\face-kiosk | Measure-Object -Sum Length).Sum / 1MB
Write-Host ("size: {0:N0} MB on disk, {1:N0} MB as {2}" -f $size, ((Get-Item $zip).Length / 1MB), $zip)
