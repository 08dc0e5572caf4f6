export interface User {
  tenantId: string;
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewUser {
  email: string;
  password?: string;
  name?: string | null;
  givenName?: string | null;
  familyName?: string | null;
  emailVerified?: boolean;
  roles?: string[];
}

export function normalizeEmail(email: string) {
  return email.trim().toLowerCase();
}
