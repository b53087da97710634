using Microsoft.Playwright;

namespace Wirestack.IntegrationTests;

[Trait("Category", "Device")]
public sealed class BrowserTests
{
    [Fact(DisplayName = "A real browser (headless Chromium) loads the dashboard through the TAP at phone width, logs in, and shows the device's state")]
    public async Task ChromiumDrivesDashboard()
    {
        Prerequisites.Require("chromium");
        var ct = TestContext.Current.CancellationToken;
        string dir = Directory.CreateTempSubdirectory("wirestack-browser").FullName;
        try
        {
            await using var ns = await TestNamespace.CreateAsync();
            await using var device = ProgramProcess.Start(ns, "--ip", "192.168.0.2/24", "--host-address", "192.168.0.1/24", "--user", "admin:secret",
                "--data-dir", Path.Combine(dir, "data"), "--https-port", "0");
            await device.WaitForLogAsync("Dashboard on", TimeSpan.FromSeconds(30));

            // Chromium runs inside the namespace: Playwright starts this wrapper, which enters it and execs the browser
            // (the debugging pipe's descriptors pass through exec).
            string wrapper = Path.Combine(dir, "chromium-in-netns");
            await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\nexec ip netns exec {ns.Name} /usr/bin/chromium \"$@\"\n", ct);
            if (OperatingSystem.IsLinux())
                File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = wrapper,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
            });
            var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 390, Height = 844 } });
            await page.GotoAsync("http://192.168.0.2/");
            await page.WaitForSelectorAsync("#login-form");
            await page.FillAsync("input[name=user]", "admin");
            await page.FillAsync("input[name=password]", "secret");
            await page.ClickAsync("#login-form button[type=submit]");
            await page.WaitForSelectorAsync("#app:not([hidden])");
            // Assertions.Expect, not WaitForFunction: the page's Content Security Policy forbids evaluating strings.
            await Assertions.Expect(page.Locator("#ov-address")).ToContainTextAsync("192.168.0.2");
            Assert.Contains("192.168.0.2/24", await page.InnerTextAsync("#ov-address"));
            Assert.Contains("(admin)", await page.InnerTextAsync("#user"));
            await Assertions.Expect(page.Locator("#ov-temp")).Not.ToHaveTextAsync("–");
            var screenshot = await page.ScreenshotAsync(new PageScreenshotOptions { FullPage = true });
            TestContext.Current.AddAttachment("dashboard.png", screenshot, "image/png");
            string artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");
            Directory.CreateDirectory(artifacts);
            await File.WriteAllBytesAsync(Path.Combine(artifacts, "dashboard.png"), screenshot, ct);

            await page.ClickAsync("button[data-view=network]");
            await Assertions.Expect(page.Locator("#net-arp")).ToContainTextAsync("192.168.0.1");
            Assert.Contains("192.168.0.1", await page.InnerTextAsync("#net-arp"));
            await page.ClickAsync("button[data-view=settings]");
            await Assertions.Expect(page.Locator("#settings-form [name=device_name]")).Not.ToHaveValueAsync("");
            await page.FillAsync("#settings-form [name=device_name]", "from-browser");
            await page.ClickAsync("#settings-form button[type=submit]");
            await Assertions.Expect(page.Locator("#settings-result")).ToHaveTextAsync("Success");
            await Assertions.Expect(page.Locator("#device-name")).ToHaveTextAsync("from-browser");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
