; Inno Setup script for Albert Lens on Windows (Inno Setup 6).
;
; Built by packaging/build.py on Windows after PyInstaller, or by hand from the repository root:
;   iscc /DAppVersion=0.1.0 /DFlavour=default packaging\windows\albert-lens.iss
; Installs dist\albert-lens\ (albert-lens.exe: the app; albert-lens-cli.exe: the command line)
; for the current user by default (no administrator rights needed; the setup offers an
; all-users install), with a Start-menu entry, an optional desktop icon and an uninstaller.
; Uninstalling keeps the user's models and settings (%LOCALAPPDATA%\albert-lens).

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef Flavour
  #define Flavour "default"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\albert-lens"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif
#ifndef OutputBase
  #define OutputBase "albert-lens-" + AppVersion + "-windows-x86_64-setup"
#endif
#ifndef IconFile
  #define IconFile "..\..\build\icons\albert-lens.ico"
#endif

#if Flavour == "cuda"
  #define FlavourName " (NVIDIA CUDA)"
#else
  #define FlavourName ""
#endif

[Setup]
; One AppId for both flavours: installing one replaces the other.
AppId={{36813FCC-D83D-40B7-A6B7-F7EC98E2CEA4}
AppName=Albert Lens
AppVersion={#AppVersion}
AppVerName=Albert Lens {#AppVersion}{#FlavourName}
AppPublisher=Albert Lens developers
DefaultDirName={autopf}\Albert Lens
DefaultGroupName=Albert Lens
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename={#OutputBase}
SetupIconFile={#IconFile}
UninstallDisplayIcon={app}\albert-lens.exe
UninstallDisplayName=Albert Lens{#FlavourName}
Uninstallable=yes
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; A previous version's bundle may hold libraries this one no longer ships.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Albert Lens"; Filename: "{app}\albert-lens.exe"; WorkingDir: "{userdocs}"; Comment: "Read documents with a local ALBERT engine"
Name: "{group}\Uninstall Albert Lens"; Filename: "{uninstallexe}"
Name: "{autodesktop}\Albert Lens"; Filename: "{app}\albert-lens.exe"; WorkingDir: "{userdocs}"; Tasks: desktopicon

[Run]
Filename: "{app}\albert-lens.exe"; Description: "{cm:LaunchProgram,Albert Lens}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only the program folder; models, caches and settings under %LOCALAPPDATA%\albert-lens stay.
Type: filesandordirs; Name: "{app}"
